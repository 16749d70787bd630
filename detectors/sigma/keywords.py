"""Where a Sigma keyword (a value without a field) is searched: the log's own content, never the
fields Vigie or a shipper adds around it.

An event's own content is, at its top level:

* ``message``: the log's message as the source wrote it;
* ``event.original``: the record as received (a syslog line, a web access line, a JSON document),
  except on Windows events (those with a ``winlog`` object), whose original is a rendering of the
  record in the input's format (EVTX, Winlogbeat or NXLog JSON, with the shipper's metadata) while
  ``winlog`` holds the whole record, the same whatever the input;
* every top-level field outside the ECS field sets and Vigie's ``vigie`` namespace: the source's
  own fields as its parser kept them (``winlog``, ``cisco``, ``zeek``, ``suricata``, ``cef``,
  ``leef``, ``auditd``, ``system``, the verbatim fields of native sources such as CloudTrail's
  ``eventName``).

Everything else is left out: the ECS fields (``event.*`` but ``event.original``, ``log.*`` with
``log.file.path``, ``ecs.version``, ``agent.*``, ``organization.*``, ``data_stream.*``, ``tags``,
``labels``, ``related.*``, ``host.*``, ``source.*`` with its geolocation...), which the pipeline
adds or derives from the content above, and ``vigie.*``. Both evaluators implement this
(:mod:`detectors.sigma.fast` through :func:`own_content`, :mod:`detectors.sigma.naive` on its own).
"""

from __future__ import annotations

from typing import Any

from cert.core.ecs import Event

#: ECS 8 top-level field sets and base fields (``message`` apart), and Vigie's own namespace.
NOT_CONTENT = frozenset({
    "@timestamp", "agent", "as", "client", "cloud", "code_signature", "container", "data_stream", "destination",
    "device", "dll", "dns", "ecs", "elf", "email", "error", "event", "faas", "file", "geo", "group", "hash", "host",
    "http", "interface", "labels", "log", "macho", "network", "observer", "orchestrator", "organization", "os",
    "package", "pe", "process", "registry", "related", "risk", "rule", "server", "service", "source", "span",
    "tags", "threat", "tls", "trace", "transaction", "url", "user", "user_agent", "vlan", "vulnerability", "x509",
    "vigie",
})
MESSAGE = "message"
ORIGINAL = "event.original"
WINDOWS = "winlog"


def is_windows(ev: Event) -> bool:
    """A Windows event: its record is the ``winlog`` object (nested, or flat dotted keys)."""
    if WINDOWS in ev:
        return True
    return any(k.startswith("winlog.") for k in ev)


def own_content(ev: Event) -> dict[str, Any]:
    """The event's own content, as a part of the event (top-level keys kept, ``event`` reduced to
    ``original``): every string in it is searched for keywords."""
    out: dict[str, Any] = {}
    windows = is_windows(ev)
    for key, value in ev.items():
        if key == MESSAGE:
            out[key] = value
        elif key == "event":
            if not windows and type(value) is dict and "original" in value:
                out[key] = {"original": value["original"]}
        elif key == ORIGINAL:
            if not windows:
                out[key] = value
        elif key.split(".", 1)[0] not in NOT_CONTENT:
            out[key] = value
    return out
