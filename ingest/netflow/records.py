"""What the decoder produces: flow (and options) records, and the errors it met, never exceptions.

A record serialises to one JSON line (``to_line``): that line is what the ``netflow`` parser
reads, what ``event.original`` keeps, and what a capture can be replayed from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from ingest.netflow.values import from_unix, iso, plain

FORMAT = "vigie.netflow/1"


@dataclass
class Header:
    """What a datagram's header says, shared by all its records."""

    version: int
    exporter_ip: str
    exporter_port: int
    domain: int  # v9 source id, IPFIX observation domain id (0 for v5)
    export_time: datetime
    sequence: int
    uptime_ms: int | None = None  # v5 and v9 only
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        host = f"[{self.exporter_ip}]" if ":" in self.exporter_ip else self.exporter_ip
        return f"{host}:{self.exporter_port}"

    def exporter(self) -> dict[str, Any]:
        """The exporter's description every record of the datagram carries (computed once)."""
        cached: dict[str, Any] | None = self.__dict__.get("_exporter")
        if cached is not None:
            return cached
        out: dict[str, Any] = {"address": self.address, "ip": self.exporter_ip, "version": self.version,
                               "timestamp": iso(self.export_time), "sequence": self.sequence}
        if self.version == 9:
            out["source_id"] = self.domain
        elif self.version == 10:
            out["observation_domain_id"] = self.domain
        if self.uptime_ms is not None:
            out["uptime_millis"] = self.uptime_ms
        out.update(self.extra)
        self.__dict__["_exporter"] = out
        return out


@dataclass
class FlowRecord:
    header: Header
    kind: str  # "flow" | "options"
    template_id: int | None
    position: str
    fields: dict[str, Any]
    scope: dict[str, Any] = field(default_factory=dict)
    system_init: datetime | None = None  # IPFIX: when the exporter's sysUpTime was 0, if known

    def times(self) -> tuple[datetime | None, datetime | None]:
        """(start, end) of the flow: absolute timestamps, deltas from the export time, or
        sysUpTime-relative values (RFC 3954 header uptime, or IPFIX systemInitTimeMilliseconds)."""
        f, h = self.fields, self.header
        start = _first(f, "flowStartNanoseconds", "flowStartMicroseconds", "flowStartMilliseconds", "flowStartSeconds")
        end = _first(f, "flowEndNanoseconds", "flowEndMicroseconds", "flowEndMilliseconds", "flowEndSeconds")
        if start is None and isinstance(f.get("flowStartDeltaMicroseconds"), int):
            start = h.export_time - timedelta(microseconds=f["flowStartDeltaMicroseconds"])
        if end is None and isinstance(f.get("flowEndDeltaMicroseconds"), int):
            end = h.export_time - timedelta(microseconds=f["flowEndDeltaMicroseconds"])
        init = f.get("systemInitTimeMilliseconds")
        init = init if isinstance(init, datetime) else self.system_init
        start = start or _uptime(f.get("flowStartSysUpTime"), h, init)
        end = end or _uptime(f.get("flowEndSysUpTime"), h, init)
        duration = f.get("flowDurationMilliseconds")
        if isinstance(duration, int):
            if start is not None and end is None:
                end = start + timedelta(milliseconds=duration)
            elif end is not None and start is None:
                start = end - timedelta(milliseconds=duration)
        return start, end

    def as_dict(self) -> dict[str, Any]:
        start, end = self.times() if self.kind == "flow" else (None, None)
        out: dict[str, Any] = {"format": FORMAT, "type": self.kind, "exporter": self.header.exporter(),
                               "template_id": self.template_id, "position": self.position,
                               "fields": {k: plain(v) for k, v in self.fields.items()}}
        if self.scope:
            out["scope"] = {k: plain(v) for k, v in self.scope.items()}
        if start is not None:
            out["start"] = iso(start)
        if end is not None:
            out["end"] = iso(end)
        return out

    def to_line(self) -> str:
        return orjson.dumps(self.as_dict()).decode()


@dataclass(frozen=True)
class DecodeError:
    """A datagram (or part of one) that could not be decoded: dead-lettered with this reason."""

    reason: str
    position: str
    raw: bytes
    exporter: str = ""


@dataclass
class DecodeResult:
    records: list[FlowRecord] = field(default_factory=list)
    errors: list[DecodeError] = field(default_factory=list)
    held: int = 0  # data sets kept until their template arrives

    def extend(self, other: DecodeResult) -> None:
        self.records.extend(other.records)
        self.errors.extend(other.errors)
        self.held += other.held


def _first(fields: dict[str, Any], *names: str) -> datetime | None:
    for name in names:
        value = fields.get(name)
        if isinstance(value, datetime):
            return value
    return None


def _uptime(value: Any, header: Header, init: datetime | None) -> datetime | None:
    if not isinstance(value, int):
        return None
    if header.uptime_ms is not None:
        if value > header.uptime_ms:  # a flow cannot start after the export; the value is bogus
            return None
        return header.export_time - timedelta(milliseconds=header.uptime_ms - value)
    if init is not None:
        return init + timedelta(milliseconds=value)
    return None


def unix_time(seconds: int, nanoseconds: int = 0) -> datetime:
    ts = from_unix(seconds + nanoseconds / 1e9)
    assert ts is not None  # 32-bit seconds always fit
    return ts
