"""The indicator detector's hot loop, written out as straight-line Python from its field table.

A generic loop over ``FIELDS`` pays, for every event, a tuple unpacking and a few branches per
field path, most of them for fields the event does not have. The function compiled here has one
block per top-level object and per field, with the lookups bound to local names, so an event costs
one dictionary access per top-level key it lacks and a memo access per value it has (the same
approach as the Sigma engine's compiled scanners, ``detectors/sigma/fast.py``).

The generated source is kept on the function (``__source__``) for reading and debugging.

``scan_candidates`` is the other way, with the native pre-filter (``vigie_native.IndicatorFilter``,
``native/src/indicators.rs``): the filter walks the events and gives the values that might be
indicators (a superset), and only those go through the same lookups, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Fields = tuple[tuple[str, tuple[tuple[str, str | None, str, str], ...]], ...]
# (events, out, lookups by kind, memo getters by kind, url joiner or None) -> None
Scanner = Callable[[Sequence[dict[str, Any]], list[Any], dict[str, Any], dict[str, Any], Any], None]

MISS = object()


def _many(values: list[Any], ev: dict[str, Any], path: str, cached: Any, lookup: Any, append: Any) -> None:
    """A list-valued field (``related.ip``): each string item looked up."""
    for item in values:
        if item.__class__ is str:
            ids = cached(item, MISS) if cached is not None else MISS
            if ids is MISS:
                ids = lookup(item)
            if ids is not None:
                append((ev, path, item, ids))


def compile_scanner(fields: Fields, memo_kinds: frozenset[str]) -> Scanner:
    """``scan(events, out, lookups, memos, url_join)``: appends (event, path, value, ids) to ``out``
    for every field value that is an indicator, in table order, exactly as the loop would."""
    kinds = sorted({kind for _, entries in fields for *_, kind in entries})
    lines = ["def scan(events, out, lookups, memos, url_join):", "    append = out.append"]
    for kind in kinds:
        lines.append(f"    l_{kind} = lookups[{kind!r}]")
        lines.append(f"    m_{kind} = memos.get({kind!r})" if kind in memo_kinds else f"    m_{kind} = None")
    lines.append("    for ev in events:")
    for top, entries in fields:
        lines += [f"        t = ev.get({top!r})", "        if t.__class__ is dict:"]
        for key, key2, path, kind in entries:
            ind = "            "
            lines.append(f"{ind}x = t.get({key!r})")
            if key2 is not None:
                lines += [f"{ind}if x.__class__ is dict:", f"{ind}    x = x.get({key2!r})", f"{ind}else:",
                          f"{ind}    x = None"]
            lines.append(f"{ind}if x.__class__ is str:")
            if kind in memo_kinds:
                lines += [f"{ind}    r = m_{kind}(x, MISS)", f"{ind}    if r is MISS:", f"{ind}        r = l_{kind}(x)"]
            else:
                lines.append(f"{ind}    r = l_{kind}(x)")
            lines += [f"{ind}    if r is not None:", f"{ind}        append((ev, {path!r}, x, r))",
                      f"{ind}elif x.__class__ is list:", f"{ind}    _many(x, ev, {path!r}, m_{kind}, l_{kind}, append)"]
        if top == "url":
            lines += ["            if url_join is not None:", "                url_join(ev, t, out)"]
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {"MISS": MISS, "_many": _many}
    exec(compile(source, "<indicator scanner>", "exec"), namespace)  # noqa: S102 - source built above from constants
    scan: Scanner = namespace["scan"]
    scan.__source__ = source  # type: ignore[attr-defined]
    return scan


def scan_candidates(candidates: list[tuple[int, int, Any]], events: Sequence[dict[str, Any]], out: list[Any],
                    entries: Sequence[tuple[str, str]], lookups: dict[str, Any], memos: dict[str, Any], url_join: Any,
                    scanner: Scanner) -> None:
    """What ``scanner`` appends to ``out`` for ``events``, from the native filter's candidates
    ``(position, field index, value)`` in scan order: field index ``i < len(entries)`` is the value
    of ``entries[i]`` (ECS path, kind), ``len(entries)`` the url join of that event, -1 an event the
    filter did not walk (not a dict), scanned here whole."""
    append = out.append
    joined = len(entries)
    for pos, f, x in candidates:
        ev = events[pos]
        if 0 <= f < joined:
            path, kind = entries[f]
            cached = memos.get(kind)
            r = cached(x, MISS) if cached is not None else MISS
            if r is MISS:
                r = lookups[kind](x)
            if r is not None:
                append((ev, path, x, r))
        elif f == joined:
            if url_join is not None:
                url_join(ev, ev["url"], out)
        else:
            scanner([ev], out, lookups, memos, url_join)
