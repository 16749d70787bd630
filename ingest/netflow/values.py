"""Information element values: bytes on the wire -> Python values (RFC 7011 section 6).

A converter returns None for a value its type does not allow (a boolean of 7, a timestamp out
of range, a NaN): the field is then left out of the record rather than stored wrong.
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Converter = Callable[[bytes], Any]

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NTP_TO_UNIX = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def iso(ts: datetime) -> str:
    """RFC 3339 in UTC with microseconds: what the decoded records carry."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def from_unix(seconds: float) -> datetime | None:
    try:
        return UNIX_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _unsigned(b: bytes) -> Any:
    return int.from_bytes(b, "big") if len(b) <= 8 else b.hex()


def _signed(b: bytes) -> Any:
    return int.from_bytes(b, "big", signed=True) if len(b) <= 8 else b.hex()


def _float(b: bytes) -> Any:
    if len(b) == 4:
        value: float = struct.unpack(">f", b)[0]
    elif len(b) == 8:
        value = struct.unpack(">d", b)[0]
    else:
        return None
    return value if math.isfinite(value) else None


def _boolean(b: bytes) -> Any:
    # RFC 7011 6.1.5: true is 1, false is 2; anything else is not a boolean
    value = int.from_bytes(b, "big")
    return True if value == 1 else False if value == 2 else None


def _mac(b: bytes) -> Any:
    return "-".join(f"{x:02X}" for x in b) if len(b) == 6 else None


def _ipv4(b: bytes) -> Any:
    return socket.inet_ntoa(b) if len(b) == 4 else None


def _ipv6(b: bytes) -> Any:
    return socket.inet_ntop(socket.AF_INET6, b) if len(b) == 16 else None


def _string(b: bytes) -> Any:
    return b.decode("utf-8", "replace").rstrip("\x00")


def _octets(b: bytes) -> Any:
    return b.hex()


def _seconds(b: bytes) -> Any:
    return from_unix(int.from_bytes(b, "big"))


def _milliseconds(b: bytes) -> Any:
    return from_unix(int.from_bytes(b, "big") / 1000)


def _ntp(b: bytes) -> Any:
    # dateTimeMicroseconds / dateTimeNanoseconds: NTP 64-bit, seconds since 1900 + 2^-32 fractions
    if len(b) != 8:
        return None
    seconds, fraction = struct.unpack(">II", b)
    return from_unix(seconds - NTP_TO_UNIX + fraction / 2**32)


CONVERTERS: dict[str, Converter] = {
    "u": _unsigned, "s": _signed, "f": _float, "bool": _boolean, "mac": _mac, "ipv4": _ipv4, "ipv6": _ipv6,
    "str": _string, "bytes": _octets, "ts_s": _seconds, "ts_ms": _milliseconds, "ts_us": _ntp, "ts_ns": _ntp,
}


def converter(kind: str) -> Converter:
    return CONVERTERS.get(kind, _octets)


def plain(value: Any) -> Any:
    """A decoded value as JSON can carry it (timestamps as RFC 3339 strings)."""
    return iso(value) if isinstance(value, datetime) else value
