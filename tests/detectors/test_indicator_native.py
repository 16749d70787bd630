"""The native pre-filter of the indicator scan (``vigie_native.IndicatorFilter``, native/src/
indicators.rs) changes nothing but speed: ``detectors.indicators.detector.scan`` gives exactly the same
matches (event, field, value, indicator ids), in the same order, with and without it.

* the events parsed from the corpora (Zeek DNS/SSL, Suricata EVE, Apache access logs, as
  bench/detect/ioc_bench.py reads them) against an index of values taken from those events (exact
  addresses, names and parents, URLs, hashes) plus random ones and networks covering some of them;
* hypothesis-generated events (odd types, lists, str and dict subclasses, Unicode, uppercase and
  trailing dots, IPv6 forms with IPv4-mapped addresses and zones, network edge addresses, URLs
  with and without scheme, the '/' rules, the url.domain + url.original join) against generated
  indexes, empty tables and networks covering every address included;
* the native path really runs: the Python scanner only sees the events the filter hands back.

Skipped when ``vigie_native`` is not built (``pip install ./native``); under CI=true that skip is
a failure (marker ``native``, see tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import random
import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detectors.indicators.detector as di
from cert.core.ecs import get
from detectors.indicators.detector import FIELDS, native_filter, scan
from detectors.indicators.index import IndicatorIndex

try:
    import vigie_native as native
except ImportError:
    native = None

pytestmark = pytest.mark.native

ROOT = Path(__file__).resolve().parents[2]
Rows = list[tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _native_built() -> None:
    """Skip each test (a failure under CI=true) when the module is not built."""
    if native is None:
        pytest.skip("vigie_native is not built (pip install ./native)")


@contextmanager
def native_env(value: str) -> Iterator[None]:
    old = os.environ.get("VIGIE_NATIVE")
    os.environ["VIGIE_NATIVE"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("VIGIE_NATIVE", None)
        else:
            os.environ["VIGIE_NATIVE"] = old


Found = list[tuple[int, str, type, Any, tuple[int, ...]]]


def _comparable(events: Sequence[Any], matches: list[Any]) -> Found:
    pos = {id(ev): i for i, ev in enumerate(events)}
    return [(pos[id(ev)], path, type(value), value, ids) for ev, path, value, ids in matches]


def python_scan(rows: Rows, events: Sequence[Any]) -> Found:
    with native_env("0"):
        index = IndicatorIndex.build(rows)
        assert native_filter(index) is None
        return _comparable(events, scan(index, events))


def native_scan(rows: Rows, events: Sequence[Any]) -> Found:
    """scan() with the filter, checking that it is used: the Python scanner only gets the events
    that are not plain dicts (the filter hands them back), one at a time."""
    seen: list[int] = []
    python_scanner = di._SCANNER

    def spy(evs: Sequence[Any], *args: Any) -> None:
        seen.append(len(evs))
        python_scanner(evs, *args)

    with native_env("1"):
        index = IndicatorIndex.build(rows)  # a fresh index: nothing memoised by the Python run
        assert isinstance(native_filter(index), native.IndicatorFilter)
        di._SCANNER = spy  # type: ignore[assignment]
        try:
            found = _comparable(events, scan(index, events))
        finally:
            di._SCANNER = python_scanner
    assert seen == [1] * sum(type(ev) is not dict for ev in events)
    return found


def same_both_ways(rows: Rows, events: Sequence[Any]) -> Found:
    expected = python_scan(rows, events)
    assert native_scan(rows, events) == expected
    return expected


def url_key(text: str) -> str:
    """The key IndicatorIndex.url looks up for a URL value."""
    i = text.find("://")
    rest = text[i + 3:] if 0 <= i < 10 else text
    host, sep, path = rest.partition("/")
    key = host.lower() + sep + path
    return key[:-1] if key.endswith("/") and key.count("/") == 1 else key


# ------------------------------------------------------------------ the corpora

def _corpus_events(corpora: Path) -> list[Any]:
    spec = importlib.util.spec_from_file_location("ioc_bench", ROOT / "bench/detect/ioc_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    events: list[Any] = bench.corpus_events(corpora)
    return events


def corpus_rows(events: Sequence[Any], rnd: random.Random) -> Rows:
    """About a third of the distinct values of each field (a few parent domains, hosts of URLs,
    uppercase hashes lowered), networks around some addresses, and random values."""
    rows: Rows = []
    values: dict[str, set[str]] = {}
    for ev in events:
        for _, entries in FIELDS:
            for _, _, path, kind in entries:
                v = get(ev, path)
                for x in v if isinstance(v, list) else [v]:
                    if isinstance(x, str) and x:
                        values.setdefault(kind, set()).add(x)
        url = ev.get("url")
        if isinstance(url, dict) and isinstance(url.get("domain"), str) and isinstance(url.get("original"), str):
            values.setdefault("url", set()).add(url["domain"] + url["original"])
    for kind, found in sorted(values.items()):
        for v in sorted(found):
            if rnd.random() < 0.35:
                if kind == "domain":
                    rows.append((len(rows) + 1, "domain", v.lower().rstrip(".").split(".", 1)[-1]))
                elif kind == "url":
                    rows.append((len(rows) + 1, "url", url_key(v)))
                elif kind == "hash":
                    rows.append((len(rows) + 1, rnd.choice(("md5", "sha1", "sha256")), v.lower()))
                else:
                    rows.append((len(rows) + 1, kind, v.lower() if kind != "ip" else v))
    for v in rnd.sample(sorted(values.get("ip", ())), min(40, len(values.get("ip", ())))):
        addr = ipaddress.ip_address(v)
        prefix = rnd.choice((8, 16, 24, 28, 32) if addr.version == 4 else (32, 48, 64, 120, 128))
        rows.append((len(rows) + 1, "cidr", str(ipaddress.ip_network(f"{v}/{prefix}", strict=False))))
    for _ in range(2000):
        rows.append((len(rows) + 1, "ip", str(ipaddress.IPv4Address(rnd.getrandbits(32)))))
        rows.append((len(rows) + 1, "domain", "".join(rnd.choices(string.ascii_lowercase, k=8)) + ".example"))
    return rows


def test_corpus_events_same_matches_both_ways(corpora: Path) -> None:
    events = _corpus_events(corpora)
    assert len(events) > 100_000, "the corpora (Zeek, Suricata EVE, Apache logs) are missing"
    rows = corpus_rows(events, random.Random(4))
    found: Found = []
    for i in range(0, len(events), 20_000):
        found += same_both_ways(rows, events[i:i + 20_000])
    paths = {path for _, path, *_ in found}
    assert len(found) > 10_000 and {"source.ip", "destination.ip", "related.ip", "dns.question.name",
                                    "url.domain+url.original"} <= paths, paths


# ------------------------------------------------------------------ generated events and indexes

class Str(str):
    pass


class Dict(dict):  # type: ignore[type-arg]
    pass


RND = random.Random(11)
V4 = [str(ipaddress.IPv4Address(RND.getrandbits(32))) for _ in range(30)]
V6 = [str(ipaddress.IPv6Address(RND.getrandbits(128))) for _ in range(10)] + ["2001:db8::1", "fe80::1"]
NETS = ["198.51.100.0/24", "203.0.113.128/25", "10.0.0.0/8", "192.0.2.7/32", "100.64.0.0/10",
        "2001:db8:aa::/48", "2001:db8:bb::/64", "::ffff:0:0/96", f"{V4[0]}/16", f"{V6[0]}/40"]
DOMAINS = ["evil.example", "a.evil.example", "bad-host.test", "x.co", "tld", "deep.sub.zone.example"]
URLS = ["evil.example/payload.php", "evil.example", "198.51.100.7:8080/a/b?c=d", "cdn.bad.test/x/",
        "bad-host.test/index.html"]
HASHES = ["d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "Ab" * 16]
EMAILS = ["phish@evil.example", "ceo@bad-host.test"]
JA3 = ["e7d705a3286e19ea42f587b344ee6865", "6734f37431670b3ab4292b8f60f29984"]
POOL: list[tuple[str, str]] = (
    [("ip", v) for v in V4 + V6] + [("cidr", n) for n in NETS] + [("domain", d) for d in DOMAINS]
    + [("url", u) for u in URLS] + [("md5", h) for h in HASHES] + [("email", e) for e in EMAILS]
    + [("ja3", j) for j in JA3] + [("ja3s", j) for j in JA3])


def _edges() -> list[str]:
    """The first and last address of each interval of the index's tables, and their neighbours
    (a network given with host bits set starts at its address, as the index builds it)."""
    index = IndicatorIndex.build([(i, "cidr", n) for i, n in enumerate(NETS)])
    out: list[str] = []
    for table, version in ((index.nets4, 4), (index.nets6, 6)):
        for start, end in zip(table.starts, table.ends, strict=True):
            out.extend(str(ipaddress.IPv4Address(a) if version == 4 else ipaddress.IPv6Address(a))
                       for a in (start - 1, start, end, end + 1) if 0 <= a < 2 ** (32 if version == 4 else 128))
    return out


EDGES = _edges()


def _ip_forms(text: str) -> st.SearchStrategy[str]:
    """The text, and other spellings of the same address (v4-mapped, exploded, uppercase, zones)."""
    forms = [text, text + "%eth0", text.upper()]
    addr = ipaddress.ip_address(text)
    if addr.version == 4:
        mapped = ipaddress.IPv6Address(0xFFFF_0000_0000 | int(addr))
        forms += [f"::ffff:{text}", f"::FFFF:{text}", mapped.exploded, f"{mapped.compressed}%1",
                  f"0:0:0:0:0:ffff:{text}", f"::{text}", "0" + text, text + ".", text.replace(".", ".0", 1)]
    else:
        forms += [addr.exploded, addr.exploded.upper(), f"{addr.compressed}%", f"[{addr.compressed}]"]
    return st.sampled_from(forms)


ip_text = st.one_of(
    st.sampled_from(V4 + V6 + EDGES).flatmap(_ip_forms),
    st.integers(0, 2 ** 32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
    st.integers(0, 2 ** 128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
    st.text("0123456789abcdefABCDEF:.%", max_size=42),
)


def _domain_forms(d: str) -> st.SearchStrategy[str]:
    return st.sampled_from([d, d.upper(), d + ".", d + "..", "www." + d, "A." + d.upper() + ".", "x" + d,
                            d.replace(".", ".."), "." + d, d.split(".", 1)[-1], d + "\u00e9", "\u212a" + d])


domain_text = st.one_of(st.sampled_from(DOMAINS + [u.split("/")[0] for u in URLS]).flatmap(_domain_forms),
                        st.text(string.ascii_letters + ".-", max_size=20))


def _url_forms(u: str) -> st.SearchStrategy[str]:
    host, sep, path = u.partition("/")
    return st.sampled_from([u, "http://" + u, "HTTPS://" + host.upper() + sep + path, "hxxp://" + u,
                            "longscheme://" + u, "a://b://" + u, u + "/", host + "/", "http://" + host + "/",
                            "http://" + host + "//", "/" + path, sep + path, host.upper() + sep + path.upper(),
                            "http://" + u + "?q=\u00e9", "ftp://" + host])


url_text = st.one_of(st.sampled_from(URLS).flatmap(_url_forms), st.text(string.printable, max_size=30))
hash_text = st.sampled_from(HASHES + JA3).flatmap(lambda h: st.sampled_from([h, h.upper(), h.lower(), h[:-1]]))
email_text = st.sampled_from(EMAILS).flatmap(lambda e: st.sampled_from([e, e.upper(), e + " ", "\u212a" + e]))
any_text = st.one_of(st.text(max_size=12), st.sampled_from(["", "-", "\x00", "\ud800", "1.2.3.4\x00"]))
BY_KIND: dict[str, st.SearchStrategy[str]] = {
    "ip": ip_text, "domain": domain_text, "url": url_text, "hash": hash_text, "email": email_text,
    "ja3": hash_text, "ja3s": hash_text}
junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.just({}), st.just([]),
                 st.binary(max_size=4), st.sampled_from(V4 + DOMAINS).map(Str))


def _field_value(kind: str) -> st.SearchStrategy[Any]:
    text = st.one_of(BY_KIND[kind], BY_KIND[kind], any_text)
    return st.one_of(text, text, st.lists(st.one_of(text, junk), max_size=4), junk)


@st.composite
def events(draw: st.DrawFn) -> Any:
    ev: dict[str, Any] = {"@timestamp": "2026-11-20T08:00:00.000Z"}
    for top, entries in FIELDS:
        how = draw(st.sampled_from(("absent", "absent", "dict", "dict", "dict", "subclass", "junk")))
        if how == "absent":
            continue
        if how == "junk":
            ev[top] = draw(junk)
            continue
        t: dict[str, Any] = {} if how == "dict" else Dict()
        for key, key2, _, kind in entries:
            if draw(st.booleans()):
                continue
            value = draw(_field_value(kind))
            if key2 is None:
                t[key] = value
            else:
                how = draw(st.sampled_from(("dict", "dict", "dict", "subclass", "none")))
                sub = t.setdefault(key, {} if how == "dict" else Dict() if how == "subclass" else None)
                if isinstance(sub, dict):
                    sub[key2] = value
        if top == "url" and draw(st.booleans()):  # an access log: the host and the path apart
            u = draw(st.sampled_from(URLS))
            host, _, path = u.partition("/")
            t["domain"] = draw(st.sampled_from([host, host.upper(), host + ".", Str(host), 7, "\u00e9" + host]))
            t["original"] = draw(st.sampled_from(["/" + path, "/" + path.upper(), path, "", "/", Str("/" + path),
                                                  "/" + path + "\u00e9", "//" + path]))
        ev[top] = t
    return Dict(ev) if draw(st.integers(0, 19)) == 0 else ev


BASE_ROWS: Rows = [(i + 1, t, v) for i, (t, v) in enumerate(POOL)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=30))
def test_generated_events_same_matches_both_ways(batch: list[Any]) -> None:
    same_both_ways(BASE_ROWS, batch)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*POOL, ("cidr", "0.0.0.0/0"), ("cidr", "::/0"), ("ip", "::ffff:1.2.3.4"),
                                          ("ip", "2001:DB8::1"), ("domain", "Evil.Example")]), max_size=12),
       st.lists(events(), min_size=1, max_size=20))
def test_generated_indexes_same_matches_both_ways(pool: list[tuple[str, str]], batch: list[Any]) -> None:
    """Smaller indexes: empty tables, a single kind, networks covering every address (then any text
    that inet_pton takes is a match: the native parser must take all of it)."""
    same_both_ways([(i + 1, t, v) for i, (t, v) in enumerate(pool)], batch)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ip_text, st.text(max_size=8)), min_size=1, max_size=50))
def test_every_address_inet_pton_takes_is_a_candidate(texts: list[str]) -> None:
    rows: Rows = [(1, "cidr", "0.0.0.0/0"), (2, "cidr", "::/0")]
    events: list[Any] = [{"source": {"ip": t}} for t in texts] + [{"related": {"ip": texts}}]
    found = same_both_ways(rows, events)
    assert len(found) == 2 * sum(IndicatorIndex.build(rows).ip(t) is not None for t in texts)


def test_filter_built_once_per_index_and_turned_off_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    index = IndicatorIndex.build(BASE_ROWS)
    monkeypatch.setenv("VIGIE_NATIVE", "1")
    first = native_filter(index)
    assert first is not None and native_filter(index) is first
    assert first.join_field == sum(len(entries) for _, entries in FIELDS)
    assert 0 < first.nbytes() < 1_000_000
    assert native_filter(IndicatorIndex.build(BASE_ROWS)) is not first
    monkeypatch.setenv("VIGIE_NATIVE", "0")
    assert native_filter(index) is None
    events = [{"source": {"ip": V4[3]}, "url": {"domain": "EVIL.example", "original": "/payload.php"}}]
    ident = {row: i + 1 for i, row in enumerate(POOL)}
    expected = [(events[0], "source.ip", V4[3], (ident["ip", V4[3]],)),
                (events[0], "url.domain", "EVIL.example", (ident["domain", "evil.example"],)),
                (events[0], "url.domain+url.original", "EVIL.example/payload.php", (ident["url", URLS[0]],))]
    assert scan(index, events) == expected
    monkeypatch.setenv("VIGIE_NATIVE", "1")
    assert scan(index, events) == expected


def test_bad_arguments() -> None:
    assert native is not None
    with pytest.raises(ValueError, match="sorted"):
        native.IndicatorFilter(FIELDS, {}, ([5, 1], [6, 2]), ([], []))
    filt = native.IndicatorFilter(FIELDS, {"ip": ["1.2.3.4"]}, ([], []), ([], []))
    with pytest.raises(TypeError):
        filt.scan(5)
    assert filt.scan([{"source": {"ip": "1.2.3.4"}}, {"source": {"ip": "1.2.3.5"}}, []]) == [
        (0, 0, "1.2.3.4"), (2, -1, None)]
