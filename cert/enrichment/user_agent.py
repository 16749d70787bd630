"""``user_agent.name``, ``version``, ``os.*`` and ``device.name`` from ``user_agent.original``, as
Elasticsearch's ``user_agent`` ingest processor writes them, with the same uap-core regexes (the
ones ``ua-parser-builtins`` bundles; nothing is fetched).

As the processor does: a browser no regex knows is named ``Other``, and so is an unknown device;
``os`` is only set when a regex names the system; a version joins major, minor, patch and build
with dots, as far as they go; ``os.full`` is the system's name and version.

The regexes run in ``ua-parser-rs`` (``ua_parser.regex.Resolver``, the ua-parser project's Rust
engine): the user agent is attacker-controlled, and the pure-Python resolver costs about 1.2 ms an
unknown agent and grows with its length (3.7 ms for 500 characters), the Rust one 0.04 ms and
0.02 ms (``bench/ingest/user_agents.py``). The two engines disagree on 3 of the 558 distinct agents
of the Apache corpus (a crawler's device named ``Spider`` by the Rust engine; an IE 8 agent that
also names 360Spider). The result is cached per user agent (a bounded LRU cache: the agents of a
log repeat a lot). A user agent longer than ``MAX_LENGTH`` characters is left unparsed: real
browsers' agents are a few hundred characters.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ua_parser import Domain, load_builtins
from ua_parser.regex import Resolver

MAX_LENGTH = 512
CACHE_SIZE = 8192

#: (name, version, os name, os version, device name); None for what the agent does not tell
Parsed = tuple[str, str | None, str | None, str | None, str]


@lru_cache(maxsize=1)
def _resolver() -> Resolver:
    return Resolver(load_builtins())


def _version(*parts: str | None) -> str | None:
    out: list[str] = []
    for part in parts:
        if part is None:
            break
        out.append(part)
    return ".".join(out) or None


@lru_cache(maxsize=CACHE_SIZE)
def parse(agent: str) -> Parsed:
    """The fields the uap-core regexes give for one user agent."""
    result = _resolver()(agent, Domain.ALL).complete()
    ua, os_, device = result.user_agent, result.os, result.device
    name = ua.family if ua is not None and ua.family else "Other"
    version = _version(ua.major, ua.minor, ua.patch, ua.patch_minor) if ua is not None else None
    os_name = os_.family if os_ is not None and os_.family else None
    os_version = _version(os_.major, os_.minor, os_.patch, os_.patch_minor) if os_name and os_ is not None else None
    device_name = device.family if device is not None and device.family else "Other"
    return name, version, os_name, os_version, device_name


def put_user_agent(ua: dict[str, Any]) -> None:
    """Fill ``ua`` (an event's ``user_agent`` object) from its ``original``, unless it has a name."""
    agent = ua.get("original")
    if agent.__class__ is not str or not agent or len(agent) > MAX_LENGTH or "name" in ua:
        return
    name, version, os_name, os_version, device_name = parse(agent)
    ua["name"] = name
    if version is not None:
        ua["version"] = version
    if os_name is not None:
        os_: dict[str, str] = {"name": os_name}
        if os_version is not None:
            os_["version"] = os_version
            os_["full"] = f"{os_name} {os_version}"
        ua["os"] = os_
    ua["device"] = {"name": device_name}
