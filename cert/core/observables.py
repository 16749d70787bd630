"""Observables checked by type before they become observables or indicators: IP addresses and
networks (``ipaddress``), domains, URLs, e-mail addresses, hashes, TLS fingerprints, host and user
names, user agents. ``normalize`` gives an indicator's stored form; ``check_observable`` refuses a
value that is not one of its type (``InvalidInput`` with the reason). Values come from logs and
partners' files: attacker-controlled text."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from cert.core.errors import InvalidInput

TYPES = ("ip", "cidr", "domain", "url", "md5", "sha1", "sha256", "email", "ja3", "ja3s")
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "ja3": 32, "ja3s": 32}
MAX_VALUE = 2048

_HEX = re.compile(r"[0-9a-f]+")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_EMAIL_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")  # RFC 5322 dot-atom
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
_NOT_IN_URL = frozenset('<>"`')
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")
#: Observable types that are never IDS indicators (to_ids) unless an analyst says so.
NOT_IDS = frozenset({"user-agent", "user", "hostname"})

def normalize_domain(text: str) -> str:
    d = text.strip().lower().rstrip(".")
    if d.startswith("*."):
        d = d[2:]
    if not d.isascii():
        try:
            d = d.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidInput(f"domain {text!r} is not a valid internationalised name: {exc}") from exc
    labels = d.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or len(d) > 253:
        raise InvalidInput(f"{text!r} is not a domain name (need at least two labels of letters, digits, - or _)")
    return d


def _host(host: str, whole: str) -> str:
    """A URL's host (an IP address or a domain name; ``urlsplit`` gives it without the brackets of
    an IPv6 address), lower-case, brackets put back."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        try:
            normalize_domain(host)
        except InvalidInput as exc:
            raise InvalidInput(f"{whole!r} is not a URL (its host {host!r} is neither an address nor a "
                               "domain)") from exc
        return host
    return f"[{addr}]" if addr.version == 6 else str(addr)


def normalize_url(text: str) -> str:
    """Scheme and host lower-case, ``http(s)://`` dropped, a bare trailing ``/`` dropped. The
    authority is read by ``urllib.parse.urlsplit``: its host must be an IP address or a domain
    name, its port a number; spaces, control characters and the characters a URL never holds
    unencoded (``<>"`` and the backtick) are refused."""
    u = text.strip()
    if not u or any(c.isspace() or c in _NOT_IN_URL or not c.isprintable() for c in u):
        raise InvalidInput(f"{text!r} is not a URL (empty or containing spaces, control characters or <>\"`)")
    if len(u) > MAX_VALUE:
        raise InvalidInput(f"URL longer than {MAX_VALUE} characters")
    scheme, sep, rest = u.partition("://")
    if not sep:
        scheme, rest = "", u
    elif not _SCHEME.fullmatch(scheme):
        raise InvalidInput(f"{text!r} is not a URL (bad scheme {scheme!r})")
    scheme = scheme.lower()
    try:
        parts = urlsplit("//" + rest)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a URL ({exc})") from exc
    if not parts.hostname:
        raise InvalidInput(f"{text!r} is not a URL (no host)")
    if port == 0:
        raise InvalidInput(f"{text!r} is not a URL (port 0)")
    userinfo, at, _ = parts.netloc.rpartition("@")
    authority = userinfo + at + _host(parts.hostname, text) + (f":{port}" if port is not None else "")
    u = authority + rest[len(parts.netloc):]
    if scheme not in ("", "http", "https"):
        u = f"{scheme}://{u}"
    if u.endswith("/") and u.count("/") == 1:
        u = u[:-1]
    return u


def normalize_email(text: str) -> str:
    v = text.strip().lower().removeprefix("mailto:")
    local, at, domain = v.rpartition("@")
    if not at or not _EMAIL_LOCAL.fullmatch(local) or len(v) > 254:
        raise InvalidInput(f"{text!r} is not an e-mail address")
    try:
        return f"{local}@{normalize_domain(domain)}"
    except InvalidInput as exc:
        raise InvalidInput(f"{text!r} is not an e-mail address (bad domain)") from exc


def normalize(type_: str, text: str) -> tuple[str, str]:
    """(type, value) normalised; an ``ip`` with a prefix becomes a ``cidr`` and a /32 an ``ip``."""
    value = str(text).strip()
    if not value:
        raise InvalidInput(f"empty {type_} value")
    if type_ in ("ip", "cidr"):
        try:
            if "/" in value:
                net = ipaddress.ip_network(value, strict=False)
                if net.num_addresses == 1:
                    return "ip", str(net.network_address)
                return "cidr", str(net)
            return "ip", str(ipaddress.ip_address(value))
        except ValueError as exc:
            raise InvalidInput(f"{value!r} is not an IP address or network") from exc
    if type_ == "domain":
        return type_, normalize_domain(value)
    if type_ == "url":
        return type_, normalize_url(value)
    if type_ in HASH_LENGTHS:
        v = value.lower()
        if len(v) != HASH_LENGTHS[type_] or not _HEX.fullmatch(v):
            raise InvalidInput(f"{value!r} is not a {type_} (expected {HASH_LENGTHS[type_]} hex digits)")
        return type_, v
    if type_ == "email":
        return type_, normalize_email(value)
    raise InvalidInput(f"unknown indicator type {type_!r} (expected one of {', '.join(TYPES)})")


def _printable(type_: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(f"{type_} longer than {limit} characters")
    if not value.isprintable():
        raise InvalidInput(f"{type_} {value!r} holds control characters")


def check_observable(type_: str, text: str) -> None:
    """InvalidInput, with the reason, when ``text`` is not a value of this observable type. IPs
    with ``ipaddress``; domains, URLs, hashes and e-mail addresses as the indicator store
    normalises them; host names as DNS or NetBIOS names; user names and user agents as printable
    text (a hostile user agent is still a user agent: it is evidence, shown escaped)."""
    value = str(text).strip()
    if not value:
        raise InvalidInput(f"empty {type_} value")
    if type_ == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise InvalidInput(f"{value[:100]!r} is not an IP address") from exc
    elif type_ == "hostname":
        if not _HOSTNAME.fullmatch(value):
            raise InvalidInput(f"{value[:100]!r} is not a host name (letters, digits, '-', '_', dot-separated)")
    elif type_ == "user":
        _printable(type_, value, 256)
    elif type_ == "user-agent":
        _printable(type_, value, 1024)
    else:
        normalize(type_, value)


def guess_type(value: str) -> str:
    """The type of a bare value in a plain list: IP/network, hash by length, e-mail, URL, domain."""
    v = value.strip()
    try:
        ipaddress.ip_network(v, strict=False)
        return "cidr" if "/" in v else "ip"
    except ValueError:
        pass
    low = v.lower()
    if _HEX.fullmatch(low):
        by_len = {32: "md5", 40: "sha1", 64: "sha256"}
        if len(low) in by_len:
            return by_len[len(low)]
    if "@" in v and "/" not in v:
        return "email"
    if "://" in v or "/" in v:
        return "url"
    return "domain"


