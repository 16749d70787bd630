"""NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagram decoder.

``NetflowDecoder.decode(datagram, (ip, port))`` returns the flow and options records it holds
and the errors it met; it never raises. It keeps, per exporter, the templates it has learned,
and holds data sets whose template has not arrived yet (exporters send templates only every so
often, and a collector that starts mid-stream sees data first): they are decoded when the
template comes, or returned as errors with the reason "no template" once ``hold_seconds`` have
passed (``expire``) or the hold buffer is full.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.netflow.records import DecodeError, DecodeResult, FlowRecord, Header, unix_time
from ingest.netflow.templates import VARIABLE, FieldSpec, Template, TemplateCache, TemplateKey

V5_HEADER = struct.Struct(">HHIIIIBBH")
V5_RECORD = struct.Struct(">4s4s4sHHIIIIHHxBBBHHBBxx")
V9_HEADER = struct.Struct(">HHIIII")
IPFIX_HEADER = struct.Struct(">HHIII")
SET_HEADER = struct.Struct(">HH")


class Malformed(ValueError):
    """Internal: a part of a datagram that breaks the protocol's layout."""


@dataclass
class _Held:
    key: TemplateKey
    since: float
    header: Header
    body: bytes
    position: str
    datagram: bytes


class NetflowDecoder:
    def __init__(self, template_timeout: float = 1800.0, hold_seconds: float = 30.0, max_held: int = 500,
                 max_templates: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.templates = TemplateCache(template_timeout, max_templates)
        self.hold_seconds = hold_seconds
        self.max_held = max_held
        self.clock = clock
        self._held: deque[_Held] = deque()
        self._system_init: dict[tuple[str, int], datetime] = {}  # (exporter, domain) -> IPFIX init time

    # ---- entry points ----
    def decode(self, datagram: bytes, exporter: tuple[str, int]) -> DecodeResult:
        result = DecodeResult()
        ip, port = exporter[0], int(exporter[1])
        try:
            if len(datagram) < 2:
                raise Malformed(f"datagram of {len(datagram)} bytes is too short for a NetFlow/IPFIX header")
            version = int.from_bytes(datagram[:2], "big")
            if version == 5:
                self._v5(datagram, ip, port, result)
            elif version == 9:
                self._v9(datagram, ip, port, result)
            elif version == 10:
                self._ipfix(datagram, ip, port, result)
            else:
                raise Malformed(f"unsupported NetFlow version {version} (Vigie reads 5, 9 and IPFIX 10)")
        except Malformed as exc:
            result.errors.append(DecodeError(str(exc), "header", datagram, ip))
        except (struct.error, ValueError, IndexError, OverflowError) as exc:  # defensive: layout bugs
            result.errors.append(DecodeError(f"malformed datagram: {type(exc).__name__}: {exc}", "header",
                                             datagram, ip))
        result.errors.extend(self.expire())
        return result

    def expire(self) -> list[DecodeError]:
        """Held data sets whose template did not come within ``hold_seconds``, as errors."""
        now = self.clock()
        out: list[DecodeError] = []
        while self._held and now - self._held[0].since >= self.hold_seconds:
            out.append(self._no_template(self._held.popleft(), f"waited {self.hold_seconds:g} s"))
        return out

    @property
    def held(self) -> int:
        return len(self._held)

    # ---- NetFlow v5 (fixed format) ----
    def _v5(self, data: bytes, ip: str, port: int, result: DecodeResult) -> None:
        if len(data) < V5_HEADER.size:
            raise Malformed(f"truncated NetFlow v5 header: {len(data)} bytes, need {V5_HEADER.size}")
        _, count, uptime, secs, nsecs, seq, engine_type, engine_id, sampling = V5_HEADER.unpack_from(data)
        need = V5_HEADER.size + count * V5_RECORD.size
        if count == 0 or len(data) < need:
            raise Malformed(f"NetFlow v5 header announces {count} records ({need} bytes), datagram has "
                            f"{len(data)} bytes")
        header = Header(5, ip, port, 0, unix_time(secs, nsecs), seq, uptime,
                        {"engine_type": engine_type, "engine_id": engine_id})
        for i in range(count):
            (src, dst, nexthop, in_if, out_if, pkts, octets, first, last, sport, dport, flags, proto, tos, src_as,
             dst_as, src_mask, dst_mask) = V5_RECORD.unpack_from(data, V5_HEADER.size + i * V5_RECORD.size)
            fields: dict[str, Any] = {
                "sourceIPv4Address": _ip4(src), "destinationIPv4Address": _ip4(dst),
                "ipNextHopIPv4Address": _ip4(nexthop), "ingressInterface": in_if, "egressInterface": out_if,
                "packetDeltaCount": pkts, "octetDeltaCount": octets, "flowStartSysUpTime": first,
                "flowEndSysUpTime": last, "sourceTransportPort": sport, "destinationTransportPort": dport,
                "tcpControlBits": flags, "protocolIdentifier": proto, "ipClassOfService": tos,
                "bgpSourceAsNumber": src_as, "bgpDestinationAsNumber": dst_as, "sourceIPv4PrefixLength": src_mask,
                "destinationIPv4PrefixLength": dst_mask, "engineType": engine_type, "engineId": engine_id,
            }
            if sampling:
                fields["samplingAlgorithm"] = sampling >> 14
                fields["samplingInterval"] = sampling & 0x3FFF
            result.records.append(FlowRecord(header, "flow", None, f"seq {seq} rec {i}", fields))

    # ---- NetFlow v9 ----
    def _v9(self, data: bytes, ip: str, port: int, result: DecodeResult) -> None:
        if len(data) < V9_HEADER.size:
            raise Malformed(f"truncated NetFlow v9 header: {len(data)} bytes, need {V9_HEADER.size}")
        _, _count, uptime, secs, seq, source_id = V9_HEADER.unpack_from(data)
        header = Header(9, ip, port, source_id, unix_time(secs), seq, uptime)
        self._sets(data, V9_HEADER.size, len(data), header, data, result, template_set=0, options_set=1)

    # ---- IPFIX ----
    def _ipfix(self, data: bytes, ip: str, port: int, result: DecodeResult) -> None:
        if len(data) < IPFIX_HEADER.size:
            raise Malformed(f"truncated IPFIX message header: {len(data)} bytes, need {IPFIX_HEADER.size}")
        _, length, export_time, seq, domain = IPFIX_HEADER.unpack_from(data)
        if length < IPFIX_HEADER.size or length > len(data):
            raise Malformed(f"IPFIX message length {length} does not fit the datagram of {len(data)} bytes")
        header = Header(10, ip, port, domain, unix_time(export_time), seq)
        self._sets(data, IPFIX_HEADER.size, length, header, data, result, template_set=2, options_set=3)

    # ---- sets (v9 "flowsets" and IPFIX sets share one layout: id, length, body) ----
    def _sets(self, data: bytes, offset: int, end: int, header: Header, datagram: bytes, result: DecodeResult,
              template_set: int, options_set: int) -> None:
        index = 0
        learned: set[TemplateKey] = set()
        while offset < end:
            where = f"seq {header.sequence} set {index}"
            if end - offset < SET_HEADER.size:
                if any(data[offset:end]):
                    result.errors.append(DecodeError(f"truncated set header at offset {offset}", where, datagram,
                                                     header.exporter_ip))
                break
            set_id, length = SET_HEADER.unpack_from(data, offset)
            if length < SET_HEADER.size or offset + length > end:
                result.errors.append(DecodeError(
                    f"set {set_id} at offset {offset} has length {length}, beyond the {end - offset} bytes left",
                    where, datagram, header.exporter_ip))
                break
            body = data[offset + SET_HEADER.size:offset + length]
            try:
                if set_id == template_set:
                    learned |= self._templates(body, header, options=False)
                elif set_id == options_set:
                    learned |= self._templates(body, header, options=True)
                elif set_id < 256:
                    raise Malformed(f"reserved set id {set_id}")
                else:
                    key = (header.exporter_ip, header.version, header.domain, set_id)
                    template = self.templates.get(key, self.clock())
                    if template is None:
                        self._hold(_Held(key, self.clock(), header, body, where, datagram), result)
                    else:
                        self._data(template, body, header, where, datagram, result)
            except Malformed as exc:
                result.errors.append(DecodeError(str(exc), where, datagram, header.exporter_ip))
            offset += length
            index += 1
        for key in learned:
            self._release(key, result)

    def _templates(self, body: bytes, header: Header, options: bool) -> set[TemplateKey]:
        learned: set[TemplateKey] = set()
        p = 0
        v9 = header.version == 9
        while len(body) - p >= 4:
            if not any(body[p:]):
                break  # padding
            template_id, count = struct.unpack_from(">HH", body, p)
            p += 4
            key = (header.exporter_ip, header.version, header.domain, template_id)
            if v9 and options:
                if len(body) - p < 2:
                    raise Malformed(f"truncated options template {template_id}")
                scope_len, option_len = count, struct.unpack_from(">H", body, p)[0]
                p += 2
                if scope_len % 4 or option_len % 4:
                    raise Malformed(f"options template {template_id}: scope length {scope_len} or option length "
                                    f"{option_len} is not a multiple of 4")
                scope_count, count = scope_len // 4, (scope_len + option_len) // 4
            elif not v9 and count == 0:  # IPFIX template withdrawal (RFC 7011 section 8.1)
                if template_id == (3 if options else 2):
                    self.templates.withdraw_all(header.exporter_ip, 10, header.domain, options)
                else:
                    self.templates.withdraw(key)
                continue
            elif not v9 and options:
                if len(body) - p < 2:
                    raise Malformed(f"truncated options template {template_id}")
                scope_count = struct.unpack_from(">H", body, p)[0]
                p += 2
                if scope_count == 0 or scope_count > count:
                    raise Malformed(f"options template {template_id}: scope field count {scope_count} of {count}")
            else:
                scope_count = 0
            if template_id < 256:
                raise Malformed(f"template id {template_id} is reserved (templates are numbered from 256)")
            specs: list[FieldSpec] = []
            for _ in range(count):
                if len(body) - p < 4:
                    raise Malformed(f"template {template_id} is truncated after {len(specs)} of {count} fields")
                element_id, length = struct.unpack_from(">HH", body, p)
                p += 4
                enterprise = 0
                if not v9 and element_id & 0x8000:
                    if len(body) - p < 4:
                        raise Malformed(f"template {template_id}: truncated enterprise number")
                    enterprise = struct.unpack_from(">I", body, p)[0]
                    element_id &= 0x7FFF
                    p += 4
                if v9 and length == VARIABLE:
                    raise Malformed(f"template {template_id}: NetFlow v9 has no variable-length fields")
                specs.append(FieldSpec(element_id, length, enterprise))
            template = Template(template_id, tuple(specs), header.version, scope_count, self.clock())
            if template.min_length == 0:
                raise Malformed(f"template {template_id} describes empty records")
            if not self.templates.put(key, template):
                raise Malformed(f"template cache full ({self.templates.max_templates}); template {template_id} "
                                "not learned")
            learned.add(key)
        return learned

    def _data(self, template: Template, body: bytes, header: Header, where: str, datagram: bytes,
              result: DecodeResult) -> None:
        """Decode a data set's records; a record that breaks off ends the set with an error."""
        try:
            self._records(template, body, header, where, result.records)
        except Malformed as exc:
            result.errors.append(DecodeError(str(exc), where, datagram, header.exporter_ip))

    def _records(self, template: Template, body: bytes, header: Header, where: str,
                 records: list[FlowRecord]) -> None:
        p = 0
        n = 0
        kind = "options" if template.options else "flow"
        while len(body) - p >= template.min_length:
            fields: dict[str, Any] = {}
            scope: dict[str, Any] = {}
            for slot in template.slots:
                length = slot.length
                if length == VARIABLE:  # RFC 7011 section 7: 1 octet, or 255 then 2 octets
                    if p >= len(body):
                        raise Malformed(f"record {n}: truncated variable-length field")
                    length = body[p]
                    p += 1
                    if length == 255:
                        if len(body) - p < 2:
                            raise Malformed(f"record {n}: truncated variable-length field")
                        length = int.from_bytes(body[p:p + 2], "big")
                        p += 2
                if len(body) - p < length:
                    raise Malformed(f"record {n}: field runs past the end of the set")
                if slot.name is not None:
                    value = slot.convert(body[p:p + length])
                    if value is not None:
                        (scope if slot.scope else fields)[slot.name] = value
                p += length
            if template.options and header.version == 10 and "systemInitTimeMilliseconds" in fields:
                if len(self._system_init) >= self.templates.max_templates:  # bounded, like the templates
                    self._system_init.clear()
                self._system_init[(header.exporter_ip, header.domain)] = fields["systemInitTimeMilliseconds"]
            records.append(FlowRecord(header, kind, template.template_id, f"{where} rec {n}", fields, scope,
                                      self._system_init.get((header.exporter_ip, header.domain))))
            n += 1

    # ---- data sets waiting for their template ----
    def _hold(self, held: _Held, result: DecodeResult) -> None:
        if self.hold_seconds <= 0:
            result.errors.append(self._no_template(held, "not held"))
            return
        if len(self._held) >= self.max_held:
            result.errors.append(self._no_template(self._held.popleft(), "hold buffer full"))
        self._held.append(held)
        result.held += 1

    def _release(self, key: TemplateKey, result: DecodeResult) -> None:
        if not any(h.key == key for h in self._held):
            return
        template = self.templates.get(key, self.clock())
        keep: deque[_Held] = deque()
        for held in self._held:
            if held.key != key or template is None:
                keep.append(held)
                continue
            self._data(template, held.body, held.header, held.position, held.datagram, result)
        self._held = keep

    @staticmethod
    def _no_template(held: _Held, why: str) -> DecodeError:
        ip, version, domain, template_id = held.key
        name = "source id" if version == 9 else "observation domain"
        return DecodeError(f"no template {template_id} from exporter {ip} ({name} {domain}; {why})",
                           held.position, held.datagram, ip)


def _ip4(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)
