"""Zeek logs, in both formats Zeek writes: TSV (the default, with its ``#separator``, ``#fields``,
``#types``, ``#path`` header) and JSON (one object per line, plain ``LogAscii::use_json`` or the
json-streaming-logs package with ``_path``); plain or gzip (``cert.pipeline.ingestor.read_lines``).

A TSV line means nothing without the header above it, so the parser keeps the header of the
stream it reads: the Ingestor asks ``for_source`` for one parser per source (file or stream), which
reads the header at the top of the file (a reader resuming from a checkpoint starts after it), and
a new ``#separator`` line (a rotated or concatenated log) starts a new header. The log type comes
from ``#path``, then JSON's ``_path``, then the file name (``conn.log``, ``dns.00:00:00-01:00:00.log.gz``,
``http.json``), then the record's fields; it names the dataset as Filebeat's filesets do
(``zeek.connection`` for conn, ``zeek.dns``...).

Values follow Zeek's types: ``-`` is unset (the field is absent), ``(empty)`` an empty string or
container, sets and vectors split on the set separator, ``\\xHH`` escapes decoded. A line whose
``ts`` is not a time is a ParseError: Zeek's test baselines mask it as ``XXXXXXXXXX.XXXXXX``, and
an event needs a real time (we never invent one), so such lines go to the dead-letter store with
that reason instead of being dropped silently.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import orjson

from cert.core.ecs import Event
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._flow import clean_text as _clean
from ingest.parsers._zeek_ecs import to_ecs

Convert = Callable[[str], Any]

_LOG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|\\)")
# Logs that describe Zeek itself, not traffic, and have no time: their lines are skipped (counted).
_TIMELESS = frozenset(("loaded_scripts",))
# A few field names that tell a log type when nothing else does (plain JSON from an unnamed file).
_SIGNATURES = (("conn_state", "conn"), ("qtype_name", "dns"), ("trans_depth", "http"), ("request_type", "kerberos"),
               ("cipher", "ssl"), ("ssl_history", "ssl"), ("note", "notice"), ("fuid", "files"),
               ("auth_attempts", "ssh"), ("certificate.serial", "x509"), ("addl", "weird"))


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("utf-8", "surrogateescape")
        out += bytes((int(m[1], 16),)) if m[1] else b"\\"
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "replace")


def _to_int(text: str) -> int:
    value = int(text)
    if not -(1 << 63) <= value < 1 << 64:  # Zeek's int is 64-bit, count unsigned 64-bit: so are the stores'
        raise ValueError(text)
    return value


def _to_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _to_bool(text: str) -> bool:
    if text == "T":
        return True
    if text == "F":
        return False
    raise ValueError(text)


_SCALARS: dict[str, Convert] = {"count": _to_int, "int": _to_int, "port": _to_int, "double": _to_float,
                                "time": _to_float, "interval": _to_float, "bool": _to_bool}


class _Header:
    """The state a TSV stream's header sets up."""

    def __init__(self, separator: str = "\t") -> None:
        self.separator = separator
        self.set_separator = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.path: str | None = None
        self.fields: list[str] | None = None
        self.types: list[str] | None = None
        self.columns: list[tuple[str, str, Convert]] | None = None

    def compile(self) -> None:
        self.columns = None
        if self.fields is None or self.types is None:
            return
        if len(self.fields) != len(self.types):
            raise ParseError(f"Zeek header: #fields has {len(self.fields)} names but #types has {len(self.types)}")
        self.columns = [(name, kind, self._converter(kind)) for name, kind in zip(self.fields, self.types, strict=True)]

    def _converter(self, kind: str) -> Convert:
        empty, unset, set_sep = self.empty, self.unset, self.set_separator
        if "[" in kind and kind.endswith("]"):
            inner = _SCALARS.get(kind[kind.index("[") + 1:-1])

            def container(text: str) -> list[Any]:
                if text == empty:
                    return []
                items = text.split(set_sep)
                if inner is None:
                    return [None if x == unset else _unescape(x) for x in items]
                return [None if x == unset else inner(x) for x in items]

            return container
        scalar = _SCALARS.get(kind)
        if scalar is not None:
            return scalar

        def string(text: str) -> str:
            if text == empty:
                return ""
            return _unescape(text) if "\\" in text else text

        return string


@parsers.register
class ZeekParser(Parser):
    name = "zeek"
    dataset = "zeek"
    module = "zeek"

    def __init__(self, source: str = "") -> None:
        self._header = _Header()
        self._file_log = _log_from_file_name(source)

    def for_source(self, source: str) -> ZeekParser:
        parser = ZeekParser(source)
        parser._read_header(source)
        return parser

    def _read_header(self, source: str) -> None:
        """Take the header from the top of the file, so that a reader resuming in the middle of a
        log (from its checkpoint, ``--follow``) still knows the fields of the lines it reads."""
        if not source or source == "-" or not os.path.isfile(source):
            return
        try:
            with (gzip.open(source, "rb") if source.endswith(".gz") else open(source, "rb")) as fh:
                for _ in range(64):
                    raw = fh.readline(1 << 16)
                    if not raw.startswith(b"#"):
                        break
                    self._directive(_clean(raw.decode("utf-8", "surrogateescape").rstrip("\r\n")))
        except (OSError, EOFError, zlib.error, ParseError):
            self._header = _Header()  # unreadable: the lines will say so themselves

    def parse(self, line: str) -> Event | None:
        if not line or line.isspace():
            return None
        if not line.isascii():
            line = _clean(line)
        first = line[0]
        if first == "#":
            self._directive(line)
            return None
        if first == "{":
            return self._json(line)
        return self._tsv(line)

    def _directive(self, line: str) -> None:
        if line.startswith("#separator "):
            separator = _unescape(line[len("#separator "):])
            if not separator or "\n" in separator:
                self._header = _Header()
                raise ParseError(f"Zeek header: unusable #separator {separator!r}")
            self._header = _Header(separator)
            return
        header = self._header
        name, _, rest = line[1:].partition(header.separator)
        values = [_unescape(v) for v in rest.split(header.separator)]
        if name in ("set_separator", "empty_field", "unset_field"):
            if not values[0]:
                raise ParseError(f"Zeek header: empty #{name}")
            if name == "set_separator":
                header.set_separator = values[0]
            elif name == "empty_field":
                header.empty = values[0]
            else:
                header.unset = values[0]
            header.compile()
        elif name == "path":
            header.path = values[0] if _LOG_NAME.match(values[0]) else None
        elif name == "fields":
            header.fields, header.types = values, None  # Zeek writes #types right after #fields
            header.compile()
        elif name == "types":
            header.types = values
            header.compile()
        # #open, #close and comments (### ...) carry nothing an event needs.

    def _tsv(self, line: str) -> Event | None:
        header = self._header
        columns = header.columns
        if columns is None:
            raise ParseError("a Zeek TSV line without its #fields and #types header above it")
        values = line.split(header.separator)
        if len(values) != len(columns):
            raise ParseError(f"Zeek TSV line has {len(values)} values for {len(columns)} fields")
        rec: dict[str, Any] = {}
        unset = header.unset
        for (field, kind, convert), text in zip(columns, values, strict=True):
            if text == unset:
                continue
            try:
                rec[field] = convert(text)
            except ValueError:
                hint = " (masked, as in Zeek's test baselines)" if text.startswith("XXXX") else ""
                raise ParseError(f"field {field!r}: {text[:40]!r} is not a Zeek {kind}{hint}") from None
        path = header.path or self._file_log or _guess_log(rec)
        if "ts" not in rec:
            times = [field for field, kind, _ in columns if kind == "time" and field in rec]
            if not times:
                if path in _TIMELESS:
                    return None
                raise ParseError("Zeek TSV line without a time (no ts field)")
            rec["ts"] = rec[times[0]]
        return to_ecs(path, rec)

    def _json(self, line: str) -> Event | None:
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not a JSON line: {exc}") from None
        if type(rec) is not dict:
            raise ParseError("a Zeek JSON record is a JSON object")
        path = rec.get("_path")
        if not (isinstance(path, str) and _LOG_NAME.match(path)):
            path = self._file_log or _guess_log(rec)
        if path in _TIMELESS and "ts" not in rec:
            return None
        return to_ecs(path, rec)


def _log_from_file_name(source: str) -> str | None:
    """``/var/log/zeek/conn.12:00:00-13:00:00.log.gz`` -> ``conn``."""
    if not source or source == "-":
        return None
    stem = PurePath(source).name.split(".", 1)[0].lower()
    return stem if _LOG_NAME.match(stem) and stem not in ("current", "zeek", "bro", "log", "logs") else None


def _guess_log(rec: dict[str, Any]) -> str:
    for field, log in _SIGNATURES:
        if field in rec:
            return log
    if "query" in rec and "trans_id" in rec:
        return "dns"
    if "name" in rec and "peer" in rec:
        return "weird"
    return "unknown"
