"""Small value helpers shared by the Windows event log parsers: strings as the log writes them,
numbers, IP addresses, timestamps, paths, command lines. No imports from the mapping modules."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from cert.core.ecs import Event, add_related, format_ts, put
from cert.core.parser import ParseError

# Event levels (winmeta.xml); Security audit events use 0 (LogAlways), shown as Information.
LEVELS = {0: "information", 1: "critical", 2: "error", 3: "warning", 4: "information", 5: "verbose"}
# Standard keyword bits (winmeta.xml) that tell an audit's outcome, named as the Event Log renders them.
KEYWORD_BITS = ((0x0010000000000000, "Audit Failure"), (0x0020000000000000, "Audit Success"),
                (0x0080000000000000, "Classic"))
EMPTY = ("", "-")


def loads(line: str) -> dict[str, Any]:
    """The JSON object of one raw record, or ParseError."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"not a JSON object but {type(doc).__name__}")
    return doc


def text(value: Any) -> str:
    """A value as the event log's XML writes it: booleans as true/false, numbers in decimal,
    nested structures as compact JSON (they do not occur in EventData written by Windows;
    ParseError for one nested too deeply to write)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:  # nested deeper than orjson writes (255 levels)
        raise ParseError(f"a value nested too deeply to keep: {exc}") from None


def opt_text(value: Any) -> str | None:
    """A non-empty string, else None (for ECS fields: '-' and '' mean 'nothing')."""
    if isinstance(value, str):
        return value if value not in EMPTY else None
    if value is None or isinstance(value, dict | list):
        return None
    return text(value)


LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value:
        v = value.strip()
        try:
            return int(v, 16) if v[:2] in ("0x", "0X") else int(v, 10)
        except ValueError:
            return None
    return None


def number(value: Any) -> int | None:
    """An integer (a signed 64-bit one, as the stores index it) from an int or a decimal/hex
    string ('0x1fc'), else None."""
    n = _integer(value)
    return n if n is not None and LONG_MIN <= n <= LONG_MAX else None


def keyword_mask(value: Any) -> int | None:
    """The 64-bit keywords mask from its hex text, or an integer NXLog may write signed."""
    n = _integer(value)
    return n & 0xFFFFFFFFFFFFFFFF if n is not None and LONG_MIN <= n < (1 << 64) else None


def ip(value: Any) -> str | None:
    """A valid IP address ('::ffff:' prefix of an IPv4-mapped address and an IPv6 zone removed),
    else None: Windows writes '-', 'LOCAL', host names and empty strings in address fields."""
    if not isinstance(value, str) or not value or value == "-":
        return None
    v = value.strip().strip("[]")
    if v.startswith("::ffff:") and "." in v:
        v = v[7:]
    v = v.split("%", 1)[0]
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return None
    return v


def timestamp(value: Any) -> str:
    """@timestamp (UTC, milliseconds) from an ISO 8601 time ('Z', offset, or none: read as UTC)
    or from epoch seconds, milliseconds or microseconds."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            scale = 1e6 if abs(value) > 1e14 else 1e3 if abs(value) > 1e11 else 1.0
            return format_ts(datetime.fromtimestamp(value / scale, UTC))
        if isinstance(value, str) and value.strip():
            v = value.strip()
            if v.endswith(" UTC"):
                v = v[:-4]
            return format_ts(datetime.fromisoformat(v))
    except (ValueError, OverflowError, OSError) as exc:
        raise ParseError(f"unreadable timestamp {value!r}: {exc}") from None
    raise ParseError(f"no timestamp ({value!r})")


def guid(value: Any) -> str | None:
    """A GUID as Windows renders a provider GUID: '{lower-case}'."""
    if not isinstance(value, str) or not value.strip("{} "):
        return None
    return "{" + value.strip("{} ").lower() + "}"


def keyword_names(mask: int) -> list[str]:
    return [name for bit, name in KEYWORD_BITS if mask & bit]


def basename(path: str) -> str:
    return path.rsplit("\\", 1)[-1]


def split_account(value: Any) -> tuple[str | None, str | None]:
    """('DOMAIN', 'name') of 'DOMAIN\\name'; (None, None) for anything else."""
    if isinstance(value, str) and value.count("\\") == 1:
        domain, name = value.split("\\")
        return (domain or None), (name or None)
    return None, None


# Tokens of a command line: backslashes then a quote | blanks | ordinary text | backslashes.
_ARGV = re.compile(r'(\\*)"|([ \t]+)|([^\\" \t]+|\\+)')


def argv(cmd: str) -> list[str]:
    """Split a command line as Windows' CommandLineToArgvW does: blanks separate arguments
    outside quotes; 2n backslashes before a quote give n and the quote toggles quoting, 2n+1 give
    n and a literal quote; '""' inside quotes is a literal quote (the pre-2008 rule, as Go and
    Winlogbeat split it); other backslashes are literal."""
    if '"' not in cmd:
        return [a for a in cmd.replace("\t", " ").split(" ") if a]
    args: list[str] = []
    buf: list[str] = []
    inarg = inquote = False
    skip_at = -1
    for m in _ARGV.finditer(cmd):
        slashes, blanks, chunk = m.groups()
        if slashes is not None:
            if m.start() == skip_at and not slashes:
                continue
            buf.append("\\" * (len(slashes) // 2))
            inarg = True
            if len(slashes) % 2:
                buf.append('"')
            else:
                if inquote and cmd.startswith('"', m.end()):
                    buf.append('"')
                    skip_at = m.end()
                inquote = not inquote
        elif blanks is not None:
            if inquote:
                buf.append(blanks)
            elif inarg:
                args.append("".join(buf))
                buf, inarg = [], False
        else:
            buf.append(chunk)
            inarg = True
    if inarg:
        args.append("".join(buf))
    return args


def set_text(ev: Event, path: str, value: Any) -> str | None:
    """Put a non-empty string value at path; return it (None when nothing was put)."""
    v = opt_text(value)
    if v is not None:
        put(ev, path, v)
    return v


def set_number(ev: Event, path: str, value: Any) -> None:
    n = number(value)
    if n is not None:
        put(ev, path, n)


def set_process(ev: Event, prefix: str, executable: Any = None, command_line: Any = None,
                pid: Any = None, entity_id: Any = None) -> None:
    """process.* (or process.parent.*): executable and its name, command line and its args,
    pid, entity id."""
    exe = set_text(ev, f"{prefix}.executable", executable)
    if exe is not None:
        put(ev, f"{prefix}.name", basename(exe))
    cmd = set_text(ev, f"{prefix}.command_line", command_line)
    if cmd is not None:
        args = argv(cmd)
        put(ev, f"{prefix}.args", args)
        put(ev, f"{prefix}.args_count", len(args))
    set_number(ev, f"{prefix}.pid", pid)
    set_text(ev, f"{prefix}.entity_id", entity_id)


def set_file(ev: Event, path: Any, prefix: str = "file") -> None:
    """file.path with its name, directory and extension."""
    p = set_text(ev, f"{prefix}.path", path)
    if p is None or "\\" not in p:
        return
    directory, name = p.rsplit("\\", 1)
    put(ev, f"{prefix}.directory", directory)
    if name:
        put(ev, f"{prefix}.name", name)
        if "." in name:
            put(ev, f"{prefix}.extension", name.rsplit(".", 1)[1])


def set_user(ev: Event, prefix: str, uid: Any = None, name: Any = None, domain: Any = None) -> None:
    """user.* (or user.target.*, user.effective.*): a 'name@domain' keeps the name part, as
    Winlogbeat does; every name goes to related.user."""
    set_text(ev, f"{prefix}.id", uid)
    n = opt_text(name)
    if n is not None:
        n = n.split("@", 1)[0] or n
        put(ev, f"{prefix}.name", n)
        add_related(ev, "user", n)
    set_text(ev, f"{prefix}.domain", domain)


def set_categories(ev: Event, category: tuple[str, ...], types: tuple[str, ...], action: str | None) -> None:
    event = ev["event"]
    if category:
        event["category"] = list(category)
    if types:
        event["type"] = list(types)
    if action:
        event["action"] = action
