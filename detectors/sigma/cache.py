"""The compiled Sigma rules kept on disk, so that a run does not parse and process them again.

One JSON file (``<data_dir>/cache/sigma-rules.json``) holds, per rule file content (its SHA-256),
as JSON text of its own (decoded one file at a time), what loading that file gave: each rule's
description and the rule IR of each of its variants (:mod:`detectors.sigma.ir`), or the reason
it was rejected. The whole file is tied to a
*fingerprint*: the engine version, the versions of pySigma and its pipelines, the source of the
modules that compile rules, the placeholders and the Sigma filters in use. A changed rule file
has a new content hash (only it is compiled again); a changed fingerprint empties the cache.

The data directory is not trusted more than any input: the file is plain data (JSON, never
pickle), decoded into a fixed set of frozen dataclasses and enums whose every field is checked
against its type; an entry that does not decode is dropped and its rule file compiled again, and
an unreadable cache file is ignored and rewritten.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import ipaddress
import logging
import os
import re
import sys
import tempfile
import types
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import orjson

import detectors.sigma.ir as ir

log = logging.getLogger(__name__)

#: Raised whenever the rule IR or the way rules are compiled changes meaning.
ENGINE_VERSION = 1
FORMAT = 2
CACHE_FILE = "sigma-rules.json"
_PACKAGES = ("pySigma", "pysigma-pipeline-sysmon", "pysigma-pipeline-windows")
_COMPILING_MODULES = ("ir", "load", "windows", "ecs", "cache")


class Invalid(ValueError):
    """Cached data that does not decode into what the engine expects."""


# ---- codec: frozen dataclasses and enums <-> JSON ------------------------------------------------
# A dataclass is ``{"ClassName": [field values in order]}``, an enum member ``{"EnumName": "MEMBER"}``,
# a tuple a list; scalars are themselves.

def encode(obj: Any) -> Any:
    """JSON-ready data for a tree of dataclasses, enums, tuples and scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {type(obj).__name__: [encode(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init]}
    if isinstance(obj, enum.Enum) and not isinstance(obj, int):  # int flags (re.IGNORECASE...) are ints
        return {type(obj).__name__: obj.name}
    if isinstance(obj, tuple | list):
        return [encode(x) for x in obj]
    if isinstance(obj, bool) or obj is None or (isinstance(obj, str) and not isinstance(obj, enum.Enum)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    raise TypeError(f"cannot cache a {type(obj).__name__}")


Decoder = Callable[[Any], Any]


def _fail(expected: str, data: Any) -> Invalid:
    return Invalid(f"expected {expected}, found {type(data).__name__}")


class Codec:
    """Decodes what :func:`encode` wrote into the given classes only, checking every value against
    the type of its field (one decoder per type, built once from the type hints)."""

    def __init__(self, classes: Iterable[type]) -> None:
        self.classes = {c.__name__: c for c in classes}
        self._objects: dict[type, Decoder] = {}

    def decode(self, data: Any, cls: type) -> Any:
        return self.decoder(cls)(data)

    def decoder(self, hint: Any) -> Decoder:
        """The decoder of one type: a scalar, a union, ``tuple[X, ...]``, a dataclass or an enum."""
        if hint is Any:
            raise Invalid("untyped field")
        origin = get_origin(hint)
        if origin is Union or origin is types.UnionType:
            return self._union(get_args(hint))
        if origin is tuple:
            return self._tuple(get_args(hint))
        if isinstance(hint, type) and hint.__name__ in self.classes:
            return self._object({hint})
        return self._union((hint,))

    def _tuple(self, args: tuple[Any, ...]) -> Decoder:
        if len(args) != 2 or args[1] is not Ellipsis:
            fixed = [self.decoder(a) for a in args]

            def fixed_tuple(data: Any) -> tuple[Any, ...]:
                if type(data) is not list or len(data) != len(fixed):
                    raise _fail(f"{len(fixed)} values", data)
                return tuple([d(x) for d, x in zip(fixed, data, strict=True)])

            return fixed_tuple
        item = self.decoder(args[0])

        def any_tuple(data: Any) -> tuple[Any, ...]:
            if type(data) is not list:
                raise _fail("a list", data)
            return tuple([item(x) for x in data])

        return any_tuple

    def _union(self, args: tuple[Any, ...]) -> Decoder:
        scalars: set[type] = set()
        objects: set[type] = set()
        for a in args:
            if a is None or a is type(None):
                scalars.add(type(None))
            elif a is float:
                scalars |= {int, float}
            elif a in (str, bool, int):
                scalars.add(a)
            elif isinstance(a, type) and a.__name__ in self.classes:
                objects.add(a)
            else:
                raise Invalid(f"type {a} cannot be cached")
        obj = self._object(objects) if objects else None
        names = "/".join(sorted(t.__name__ for t in scalars | objects))

        def union(data: Any) -> Any:
            if type(data) in scalars:
                # names and test kinds recur thousands of times: one string object each
                return sys.intern(data) if type(data) is str and len(data) <= 64 else data
            if obj is not None and type(data) is dict:
                return obj(data)
            raise _fail(names, data)

        return union

    def _object(self, allowed: set[type]) -> Decoder:
        classes = {c.__name__: c for c in allowed}
        built = self._objects  # class -> decoder, filled on first use (types refer to themselves)

        def obj(data: Any) -> Any:
            if type(data) is not dict or len(data) != 1:
                raise _fail("an object", data)
            ((name, value),) = data.items()
            cls = classes.get(name)
            if cls is None:
                raise Invalid(f"{name!r} is not one of {sorted(classes)}")
            dec = built.get(cls)
            return (dec or self._class(cls))(value)

        return obj

    def _class(self, cls: type) -> Decoder:
        found = self._objects.get(cls)
        if found is not None:
            return found
        if issubclass(cls, enum.Enum):
            members = cls.__members__

            def member(data: Any) -> Any:
                if type(data) is not str or data not in members:
                    raise Invalid(f"{cls.__name__} has no member {data!r}")
                return members[data]

            self._objects[cls] = member
            return member
        if not dataclasses.is_dataclass(cls):
            raise Invalid(f"{cls.__name__} cannot be cached")
        hints = get_type_hints(cls)
        fields = [self.decoder(hints[f.name]) for f in dataclasses.fields(cls) if f.init]
        count = len(fields)

        def instance(data: Any) -> Any:
            if type(data) is not list or len(data) != count:
                raise _fail(f"{count} fields of {cls.__name__}", data)
            try:
                return cls(*[d(x) for d, x in zip(fields, data, strict=True)])
            except (TypeError, ValueError) as exc:
                raise Invalid(f"{cls.__name__}: {exc}") from None

        self._objects[cls] = instance
        return instance


def ir_classes() -> list[type]:
    """The dataclasses and enums of the rule IR (whatever their number: the codec is generic)."""
    return [v for v in vars(ir).values() if isinstance(v, type) and v.__module__ == ir.__name__
            and (dataclasses.is_dataclass(v) or issubclass(v, enum.Enum))]


_STR_KINDS = frozenset({"eq", "prefix", "suffix", "contains", "glob"})
_CMP_OPS = frozenset({"lt", "lte", "gt", "gte", "neq"})
_TIME_PARTS = frozenset({"minute", "hour", "day", "week", "month", "year"})
_RE_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL


def check_node(node: Any) -> None:
    """Values the types alone do not constrain: string test kinds, comparison operators, regular
    expressions and networks that compile. Raises :class:`Invalid`."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ir.And | ir.Or):
            stack.extend(n.args)
        elif isinstance(n, ir.Not):
            stack.append(n.arg)
        elif isinstance(n, ir.Match):
            _check_test(n.test)
        else:
            raise Invalid(f"{type(n).__name__} is not a condition")


def _check_test(t: Any) -> None:
    if isinstance(t, ir.Str) and t.kind not in _STR_KINDS:
        raise Invalid(f"string test {t.kind!r}")
    if isinstance(t, ir.Cmp) and t.op not in _CMP_OPS:
        raise Invalid(f"comparison {t.op!r}")
    if isinstance(t, ir.TimePart) and t.part not in _TIME_PARTS:
        raise Invalid(f"time part {t.part!r}")
    if isinstance(t, ir.Regex):
        if t.flags & ~_RE_FLAGS:
            raise Invalid(f"regular expression flags {t.flags}")
        try:
            re.compile(t.pattern, t.flags)
        except re.error as exc:
            raise Invalid(f"regular expression {t.pattern!r}: {exc}") from None
    if isinstance(t, ir.Cidr):
        try:
            ipaddress.ip_network(t.network, strict=False)
        except ValueError as exc:
            raise Invalid(str(exc)) from None


# ---- the cache file ------------------------------------------------------------------------------

def _module_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _COMPILING_MODULES:
        try:
            h.update((here / f"{name}.py").read_bytes())
        except OSError:
            h.update(name.encode())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "-"
    return out


def fingerprint(placeholders: Mapping[str, list[str]], filter_files: Iterable[str]) -> str:
    """What, besides a rule file's own content, changes its compiled form."""
    data = {"engine": ENGINE_VERSION, "format": FORMAT, "packages": _versions(), "modules": _module_digest(),
            "placeholders": {k: list(v) for k, v in sorted(placeholders.items())},
            "filters": sorted(filter_files)}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RuleCache:
    """The cache file of one data directory: ``entries`` (content hash -> JSON text of the entry) for the
    fingerprint it was written with; :meth:`save` replaces it atomically."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / CACHE_FILE
        self.fingerprint = ""
        self.entries: dict[str, Any] = {}
        self._read()

    def _read(self) -> None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("Sigma rule cache %s is unreadable (%s): rebuilding it", self.path, exc)
            return
        if (not isinstance(data, dict) or data.get("format") != FORMAT
                or not isinstance(data.get("fingerprint"), str) or not isinstance(data.get("files"), dict)
                or not all(isinstance(v, str) for v in data["files"].values())):
            log.warning("Sigma rule cache %s is not a cache of this version: rebuilding it", self.path)
            return
        self.fingerprint = data["fingerprint"]
        self.entries = data["files"]

    def entries_for(self, fp: str) -> dict[str, Any]:
        """The entries valid under this fingerprint (none when it changed)."""
        return self.entries if fp == self.fingerprint else {}

    def save(self, fp: str, entries: dict[str, Any]) -> None:
        """Write the cache (a temporary file renamed over it: readers see the old or the new one).
        A data directory that cannot be written only costs the next run a compilation."""
        body = orjson.dumps({"format": FORMAT, "fingerprint": fp, "files": entries})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".sigma-rules-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(body)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("Sigma rule cache %s cannot be written: %s", self.path, exc)
            return
        self.fingerprint, self.entries = fp, entries
