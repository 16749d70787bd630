"""The registered domain, subdomain and top-level domain of a name, as Filebeat's ``registered_domain``
processor writes them (``dns.question.registered_domain`` / ``subdomain`` / ``top_level_domain``,
``url.registered_domain`` / ...), from the Public Suffix List bundled with ``publicsuffixlist``
(read from the package, never fetched).

Like the processor (Go's ``publicsuffix`` package): the ICANN and private sections both count (a
customer of a dynamic-DNS or hosting service, ``x.ddns.net``, owns ``x.ddns.net``); an unknown top
level counts as one label (``www.ak.local`` -> ``ak.local``); a name that is a public suffix itself
or a single label (``com``, ``localhost``) gets no field; the subdomain is left out when empty.
Names are compared lower-cased without their trailing dot (``WWW.Example.COM.`` as
``www.example.com``). Names come from logs and are attacker-controlled: anything that is not a
plausible DNS name (an IP address, empty labels, white space, over 253 characters) gets no field.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

#: the longest name DNS carries (RFC 1035: 255 octets on the wire, 253 characters written)
MAX_NAME = 253
CACHE_SIZE = 65536

Split = tuple[str, str, str]  # (registered domain, top-level domain, subdomain or "")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the bundled list; ICANN and private sections


@lru_cache(maxsize=CACHE_SIZE)
def split(name: str) -> Split | None:
    """``(registered domain, top-level domain, subdomain)`` of a name (the subdomain "" when the
    name is its registered domain), or None when it has no registered domain."""
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > MAX_NAME or ".." in name or name.startswith(".") or not name.isprintable() \
            or any(c.isspace() for c in name) or _is_ip(name):
        return None
    found = suffixes(name)
    if found is None:
        return None
    registered, suffix = found
    return registered, suffix, name[: len(name) - len(registered)].rstrip(".")


def suffixes(name: str) -> tuple[str, str] | None:
    """``(registered domain, public suffix)`` of a lower-case name by the bundled Public Suffix
    List (ICANN and private sections: a dynamic-DNS or hosting customer, ``x.ddns.net``, is a
    registered domain of its own), or None when it has none (a suffix itself, one label)."""
    try:
        registered = _psl().privatesuffix(name)
        suffix = _psl().publicsuffix(name)
    except (ValueError, UnicodeError):
        return None
    if not registered or not suffix or not name.endswith(registered):
        return None
    return registered, suffix


def _is_ip(name: str) -> bool:
    if not (name[-1].isdigit() or ":" in name):
        return False
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def put_domain_parts(obj: dict[str, object], name: object) -> None:
    """Set ``registered_domain``, ``top_level_domain`` and ``subdomain`` in ``obj`` (the object
    holding the name: ``dns.question``, ``url``) from ``name``, unless already set."""
    if name.__class__ is not str or "registered_domain" in obj:
        return
    parts = split(name)
    if parts is None:
        return
    obj["registered_domain"], obj["top_level_domain"], sub = parts
    if sub:
        obj["subdomain"] = sub
