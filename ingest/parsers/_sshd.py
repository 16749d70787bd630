"""OpenSSH ``sshd`` messages -> ECS: logins, connections and pre-authentication failures.

The message forms are those fail2ban's ``sshd`` filter recognises (normal, ddos, extra and
aggressive modes) plus the successful ones. ``event.action`` says which kind of event it is:

* ``ssh_login`` (category authentication): a credential was judged: ``Accepted ...``,
  ``Failed ...``, ``Invalid user``, ``input_userauth_request: invalid user``, PAM
  ``Authentication failure`` and ``unknown user``, ``ROOT LOGIN REFUSED``,
  ``not allowed because ...``, ``maximum authentication attempts exceeded``, ``Too many
  authentication failures``, ``Change of username or service not allowed``. Outcome success or
  failure. ``Postponed``/``Partial`` (a method not judged yet): outcome unknown, failure for an
  invalid user. The brute-force Sigma rules count the failures, each attempt once (``_attempts``).
* ``ssh_disconnect``: the connection ended. During authentication (``[preauth]``, ``authenticating
  user``, ``invalid user``, client ``Auth fail``, ``No supported authentication methods``) it is
  category authentication with outcome failure; otherwise category network.
* ``ssh_handshake_failure`` (category network, outcome failure): the client never got to
  authenticate: no identification string, bad protocol version, banner or key exchange errors,
  no matching cipher/MAC/kex, timeout before authentication, corrupted packets.
* ``ssh_connection_refused`` (network, denied): refused by TCP wrappers (``refused connect``).
* ``ssh_connection`` (network): a connection opened (``Connection from``).

Injection: user names (and a few other fields) are chosen by the client and may contain
``from 10.0.0.1 port 1``. The client address is therefore taken from the *last* ``from <addr>``
that sshd itself wrote: user names are matched greedily up to the fixed text that follows the
address, and ``Failed``/``Accepted`` lines take the last ``from <addr> port <n> sshN`` that is
followed by the end of the line or by a well-formed key description (``: RSA SHA256:...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cert.core.ecs import Event, put
from ingest.parsers._fields import put_address, put_event, put_port

PREFIX = re.compile(r"(?:\[ID \d+ [\w.]+\] )?(?:(?:error|fatal): )?(?:PAM: )?")
_P = r"(?: port (?P<port>\d{1,5}))?"
_PRE = r"(?P<preauth> \[preauth\])?\s*$"
_WHO = r"(?:(?P<kind>invalid|authenticating) user (?P<user>.*) )?"
# after a greedy user name: an IP address or host name (has a dot, colon or letter: not a port)
_ADDR = r"(?P<addr>[\w.:%-]*[.:A-Za-z][\w.:%-]*)"


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    kind: str
    reason: str | None = None
    ssh_event: str | None = None  # system.auth.ssh.event


def _r(pattern: str, kind: str, reason: str | None = None, ssh_event: str | None = None) -> Rule:
    return Rule(re.compile(pattern, re.S), kind, reason, ssh_event)


FAILURE = "login_failure"
RULES: dict[str, list[Rule]] = {
    "Invalid": [_r(r"Invalid user (?P<user>.*) from " + _ADDR + _P + _PRE, FAILURE, "invalid user", "Invalid")],
    "Illegal": [_r(r"Illegal user (?P<user>.*) from " + _ADDR + _P + _PRE, FAILURE, "invalid user", "Invalid")],
    "input_userauth_request:": [_r(r"input_userauth_request: (?:invalid|illegal) user (?P<user>.*?)" + _PRE, FAILURE,
                                   "invalid user", "input_userauth_request")],
    # OpenSSH's "PAM: <pam_strerror> for [illegal user ]X from H"; OpenPAM (macOS, BSD) says "unknown user"
    "unknown": [_r(r"unknown user for (?:(?:illegal|invalid) user )?(?P<user>.*) from (?P<addr>\S+?)" + _P + _PRE,
                   FAILURE, "user unknown")],
    "Authentication": [_r(r"[Aa]uthentication (?:failure|error|failed) for (?:(?:illegal|invalid) user )?"
                          r"(?P<user>.*) from (?P<addr>\S+?)(?: via \S+)?" + _P + _PRE, FAILURE,
                          "authentication failure")],
    "User": [
        _r(r"User not known to the underlying authentication module for (?:(?:illegal|invalid) user )?"
           r"(?P<user>.*) from " + _ADDR + _P + _PRE, FAILURE, "user not known"),
        _r(r"User (?P<user>.*) from " + _ADDR + r" not allowed because (?P<reason>.+?)" + _PRE, FAILURE),
        _r(r"User (?P<user>.*?) not allowed because (?P<reason>.+?)" + _PRE, FAILURE),
    ],
    "ROOT": [_r(r"(?P<user>ROOT) LOGIN REFUSED FROM (?P<addr>\S+?)" + _P + _PRE, FAILURE, "root login refused")],
    "maximum": [_r(r"maximum authentication attempts exceeded for (?:invalid user )?(?P<user>.*) from "
                   r"(?P<addr>\S+?)" + _P + r"(?: ssh\d?)?" + _PRE, FAILURE,
                   "maximum authentication attempts exceeded")],
    "Disconnecting:": [_r(r"Disconnecting: Too many authentication failures(?: for (?:invalid user )?(?P<user>.*?))?"
                          + _PRE, FAILURE, "too many authentication failures")],
    "Disconnecting": [
        _r(r"Disconnecting (?P<kind>invalid|authenticating) user (?P<user>.*) " + _ADDR + r" port (?P<port>\d{1,5}): "
           r"(?P<reason>Too many authentication failures|Change of username or service not allowed).*$", FAILURE),
        _r(r"Disconnecting " + _WHO + _ADDR + r" port (?P<port>\d{1,5}): (?P<reason>.*?)" + _PRE, "closed"),
    ],
    "Connection": [
        _r(r"Connection (?P<how>closed|reset) by " + _WHO + _ADDR + _P + _PRE, "closed"),
        _r(r"Connection from (?P<addr>\S+?)" + _P + r"(?: on (?P<daddr>\S+?) port (?P<dport>\d{1,5}))?"
           r"(?: rdomain .*)?\s*$", "connection"),
    ],
    "Disconnected": [_r(r"Disconnected from (?:(?P<kind>invalid|authenticating) user (?P<user>.*) "
                        r"|user (?P<suser>.*) )?" + _ADDR + _P + _PRE, "closed")],
    "Received": [_r(r"Received disconnect from (?P<addr>\S+?)(?: port (?P<port>\d{1,5}):\s?|: )(?P<code>\d+): "
                    r"(?P<reason>.*?)" + _PRE, "received_disconnect")],
    "Did": [_r(r"Did not receive identification string from (?P<addr>\S+?)" + _P + r"\s*$", "handshake",
               "did not receive identification string")],
    "Bad": [_r(r"Bad protocol version identification '.*' from (?P<addr>\S+?)" + _P + r"\s*$", "handshake",
               "bad protocol version identification")],
    "banner": [_r(r"banner exchange: Connection from (?P<addr>\S+?)" + _P + r": (?P<reason>.*?)" + _PRE,
                  "handshake")],
    "ssh_dispatch_run_fatal:": [_r(r"ssh_dispatch_run_fatal: Connection from " + _WHO + r"(?P<addr>\S+?)" + _P
                                   + r": (?P<reason>.*?)" + _PRE, "handshake")],
    "Timeout": [_r(r"Timeout before authentication for (?:connection from )?(?P<addr>\S+?)"
                   r"(?: port (?P<port>\d{1,5})| to \S+, pid = \d+)?\s*$", "handshake",
                   "timeout before authentication")],
    "Unable": [
        _r(r"Unable to negotiate with (?P<addr>\S+?)" + _P + r": (?P<reason>no matching .*? found)\..*$", "handshake"),
        _r(r"Unable to negotiate (?P<reason>a key exchange method)" + _PRE, "handshake"),
    ],
    "kex_exchange_identification:": [_r(r"kex_exchange_identification: (?P<reason>.*?)" + _PRE, "handshake")],
    "Read": [_r(r"Read from socket failed: (?P<reason>.*?)" + _PRE, "handshake")],
    "no": [_r(r"(?P<reason>no matching \S+ found): .*$", "handshake")],
    "refused": [_r(r"refused connect from (?P<name>\S+) \((?P<addr>[^()\s]+)\)\s*$", "refused",
                   "refused by tcp wrappers")],
    "SSH:": [_r(r"SSH: Server;Ltype: \w+;Remote: (?P<addr>[^;\s]+)-(?P<port>\d{1,5});.*$", "connection_info")],
}
RULES["authentication"] = RULES["Authentication"]

# kind -> action, categories, types, outcome
KINDS: dict[str, tuple[str, list[str], list[str], str | None]] = {
    FAILURE: ("ssh_login", ["authentication"], ["info"], "failure"),
    "auth_end": ("ssh_disconnect", ["authentication"], ["end"], "failure"),
    "end": ("ssh_disconnect", ["network"], ["connection", "end"], None),
    "handshake": ("ssh_handshake_failure", ["network"], ["connection"], "failure"),
    "refused": ("ssh_connection_refused", ["network"], ["connection", "denied"], "failure"),
    "connection": ("ssh_connection", ["network"], ["connection", "start"], None),
    "connection_info": ("ssh_connection", ["network"], ["info"], None),
}

LOGIN = re.compile(r"(?P<result>Failed|Accepted|Postponed|Partial) (?P<method>\S+) for (?P<rest>.*)$", re.S)
_FROM = re.compile(r" from (?P<addr>\S+?)(?: port (?P<port>\d{1,5}))?(?: (?P<proto>ssh\d?))?"
                   r"(?=: | \[preauth\]\s*$|\s*$)")
# What sshd appends after "sshN": a key ("RSA SHA256:..."), for a certificate its id and CA,
# for host-based authentication the client user and host; ssh1 rhosts logs "ruser <name>".
_KEY_INFO = re.compile(r': [A-Z][A-Z0-9-]*(?:@\S+)? \S+(?: ID .*? \(serial \d+\) CA [A-Z][A-Z0-9-]* \S+)?'
                       r'(?:, client user ".*", client host ".*")?(?: \[preauth\])?\s*$', re.S)
_RUSER = re.compile(r": ruser .*$", re.S)


def parse(ev: Event, message: str) -> bool:
    """Map one sshd message onto ``ev``; False when the message is not one we know."""
    prefix = PREFIX.match(message)
    body = message[prefix.end():] if prefix else message
    first = body.split(" ", 1)[0]
    if first in ("Failed", "Accepted", "Postponed", "Partial"):
        return _login(ev, body)
    for rule in RULES.get(first, ()):
        m = rule.pattern.match(body)
        if m is not None:
            _apply(ev, rule, m.groupdict())
            return True
    return False


def _set_kind(ev: Event, kind: str, reason: str | None) -> None:
    action, category, types, outcome = KINDS[kind]
    put_event(ev, action=action, category=list(category), type=list(types))
    if outcome:
        put_event(ev, outcome=outcome)
    if reason:
        put_event(ev, reason=reason)


def _apply(ev: Event, rule: Rule, g: dict[str, str | None]) -> None:
    kind, reason = rule.kind, g.get("reason") or rule.reason
    during_auth = bool(g.get("kind") or g.get("preauth"))
    if kind == "closed":
        how = g.get("how") or "closed"
        kind = "auth_end" if during_auth else "end"
        reason = reason or (f"connection {how} during authentication" if during_auth else f"connection {how}")
    elif kind == "received_disconnect":
        code, text = g.get("code"), g.get("reason") or ""
        auth_fail = (code == "3" and "Auth fail" in text) or code == "14"
        kind = "auth_end" if auth_fail or during_auth else "end"
        reason = f"{code}: {text}"
    _set_kind(ev, kind, reason)
    if rule.ssh_event:
        put(ev, "system.auth.ssh.event", rule.ssh_event)
    user = g.get("user") if g.get("user") is not None else g.get("suser")
    if user is not None:
        put(ev, "user.name", "root" if user == "ROOT" else user)
    put_address(ev, "source", g.get("addr"))
    put_port(ev, "source.port", g.get("port"))
    if g.get("daddr"):
        put_address(ev, "destination", g["daddr"])
        put_port(ev, "destination.port", g.get("dport"))


def _final(m: re.Match[str], rest: str) -> bool:
    """Is this ``from <addr>`` the one sshd wrote, judging by what follows it?"""
    suffix = rest[m.end():]
    if not suffix.strip() or suffix.strip() == "[preauth]":
        return True
    if _KEY_INFO.match(suffix):
        return True
    return m["proto"] == "ssh1" and _RUSER.match(suffix) is not None


def _login(ev: Event, body: str) -> bool:
    m = LOGIN.match(body)
    if m is None:
        return False
    rest = m["rest"]
    candidates = [c for c in _FROM.finditer(rest) if _final(c, rest)]
    if not candidates:
        return False
    chosen = candidates[-1]
    if chosen["port"] is None:  # an ssh1 "ruser ... from x" tail: prefer the full "from a port n sshN"
        with_port = [c for c in candidates if c["port"]]
        chosen = with_port[-1] if with_port else chosen
    user = rest[:chosen.start()]
    invalid = user.startswith(("invalid user ", "illegal user "))
    if invalid:
        user = user[len("invalid user "):]
    accepted = m["result"] == "Accepted"
    if accepted or m["result"] == "Failed":
        outcome = "success" if accepted else "failure"
    else:  # "Postponed" / "Partial": the method is not judged yet, unless the user does not exist
        outcome = "failure" if invalid else "unknown"
    put_event(ev, action="ssh_login", category=["authentication"], type=["start"] if accepted else ["info"],
              outcome=outcome)
    if invalid:
        put_event(ev, reason="invalid user")
    put(ev, "user.name", user)
    put_address(ev, "source", chosen["addr"])
    put_port(ev, "source.port", chosen["port"])
    put(ev, "system.auth.ssh.event", m["result"])
    put(ev, "system.auth.ssh.method", m["method"])
    info = rest[chosen.end():].removesuffix(" [preauth]").strip()
    if info.startswith(": ") and _KEY_INFO.match(rest, chosen.end()):
        put(ev, "system.auth.ssh.signature", info[2:])
    return True
