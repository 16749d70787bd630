"""How many authentication attempts a failure line adds to the brute-force counts: ``event.count``.

One attempt to log in may leave several failure lines. An sshd with PAM writes, for one wrong
password of an unknown user, ``Invalid user X from A``, ``input_userauth_request: invalid user X``,
``pam_unix(sshd:auth): check pass; user unknown``, ``pam_unix(sshd:auth): authentication failure;
... rhost=A`` and then ``Failed password for invalid user X from A``; further passwords on the same
connection only add ``Failed password`` lines, and at its end ``PAM 2 more authentication
failures`` or ``Disconnecting: Too many authentication failures`` sum them up. Each of these lines
is an event with ``event.outcome: failure`` (a reader of any one of them sees a failed login), and
``event.count`` says what it adds to a count of attempts (the Sigma ``event_count`` correlations
add it, ``detectors.sigma.correlate``):

* an **attempt** (``Failed <method> for ...``): 1; 0 when an announcement of the same process
  already counted this attempt;
* an **announcement** (the lines written before sshd's own verdict: ``Invalid user``, ``Failed
  none for invalid user`` (the client asking which methods it may use: no credential),
  ``input_userauth_request: invalid user``, ``Postponed ... for invalid user``, ``not allowed
  because``, ``ROOT LOGIN REFUSED``, ``PAM: unknown user``, PAM ``authentication failure`` and
  ``check pass; user unknown``): 1 for the first line of an attempt; 0 for a further line of
  another kind in the same process before that attempt's verdict (it is the same attempt). A second
  line of the same kind is a further attempt (a program other than sshd, such as ``su`` or
  ``vsftpd``, writes only PAM lines; a repeated line is a repeated attempt);
* a **summary** (``PAM N more authentication failures``, ``maximum authentication attempts
  exceeded``, ``Too many authentication failures``): 0, its attempts have their own lines.

A process is (host, program, pid); a line without a pid is never merged with another. A record of
``message repeated N times: [ ... ]`` stands for N lines. The state is per source (the parser's
``for_source``), bounded, and lost on restart: at worst one attempt is counted twice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from cert.core.ecs import Event, get

MAX_PROCESSES = 4096
FAILURE_ACTIONS = ("ssh_login", "pam_authentication_failure")
SUMMARY_REASONS = frozenset(("maximum authentication attempts exceeded", "too many authentication failures",
                             "Too many authentication failures", "Change of username or service not allowed"))


class Role(Enum):
    ATTEMPT = "attempt"
    ANNOUNCEMENT = "announcement"
    SUMMARY = "summary"


@dataclass(slots=True)
class _Pending:
    kinds: set[str] = field(default_factory=set)


@dataclass
class AttemptCounter:
    """The announcements still waiting for their verdict, per process."""

    pending: OrderedDict[tuple[str | None, str | None, str], _Pending] = field(default_factory=OrderedDict)

    def weight(self, process: tuple[str | None, str | None, str | None], role: Role, kind: str, times: int = 1) -> int:
        """What ``times`` lines of this ``role`` and ``kind`` from ``process`` add to a count."""
        if role is Role.SUMMARY:
            return 0
        host, program, pid = process
        if pid is None:
            return times
        key = (host, program, pid)
        waiting = self.pending.get(key)
        if role is Role.ATTEMPT:
            if waiting is None:
                return times
            del self.pending[key]
            return times - 1
        if waiting is not None and kind not in waiting.kinds:
            waiting.kinds.add(kind)
            self.pending.move_to_end(key)
            return times - 1
        self.pending[key] = _Pending({kind})
        self.pending.move_to_end(key)
        while len(self.pending) > MAX_PROCESSES:
            self.pending.popitem(last=False)
        return times


def classify(ev: Event) -> tuple[Role, str] | None:
    """The role of a failure event (and the kind of an announcement); None for other events."""
    event = ev.get("event") or {}
    action = event.get("action")
    if action not in FAILURE_ACTIONS or event.get("outcome") != "failure":
        return None
    reason = str(event.get("reason") or "")
    if reason in SUMMARY_REASONS or get(ev, "system.auth.pam.more_failures") is not None:
        return Role.SUMMARY, reason
    ssh_event = get(ev, "system.auth.ssh.event")
    if action == "ssh_login" and ssh_event == "Failed" and get(ev, "system.auth.ssh.method") != "none":
        return Role.ATTEMPT, "failed"
    return Role.ANNOUNCEMENT, f"{action}:{ssh_event}:{reason}"
