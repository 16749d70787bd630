//! `vigie_native`: native fast paths of Vigie's ingest.
//!
//! `eve_finalized(dataset, module, ecs_version, line, source, keep_original, ingested, identity,
//! position, *, parser=None)` gives, for one Suricata EVE line, the event that
//! `SuricataEveParser.parse` followed by `cert.pipeline.ingestor._finalize` gives (the same dict,
//! its `event.id` that of `cert.core.ecs.event_id` for the source, identity and position, the
//! parser's name in `labels.vigie_parser` when given); or None when the line is not
//! on the fast path: anything unusual (bad JSON, odd types,
//! timestamps outside the usual shapes, duplicate keys, lone surrogates...). The Python parser
//! is the reference and takes every declined line, so correctness never rests on this module
//! covering every case.
//!
//! `IndicatorFilter` (indicators.rs) is the pre-filter of the indicator detector's scan: the
//! event values that might be indicators, a superset of what the Python index matches.

mod app;
mod arena;
mod eve;
mod flow;
mod indicators;
mod py;
mod value;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::value::{Ext, Map, V};

/// The record's place for `cert.core.ecs.event_id`: where it was read, and its position there.
struct Place<'s> {
    source: &'s str,
    identity: &'s str,
    position: i64,
}

/// `cert.core.ecs.event_id`: dataset, source, identity and position (decimal), each followed by
/// a NUL byte, then the raw line.
fn event_id(dataset: &str, place: &Place, line: &str) -> blake2b_simd::Hash {
    let mut hasher = blake2b_simd::Params::new().hash_length(16).to_state();
    for part in [dataset, place.source, place.identity] {
        hasher.update(part.as_bytes());
        hasher.update(b"\x00");
    }
    let mut digits = [0u8; 20];
    hasher.update(decimal(place.position, &mut digits));
    hasher.update(b"\x00");
    hasher.update(line.as_bytes());
    hasher.finalize()
}

/// An integer in decimal, as Python's `%d` writes it.
fn decimal(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// What `_finalize` adds for a parser whose event has `event.kind`, no `event.dataset` or
/// `event.module`, no `client`, `host` or `user`, and a `@timestamp` from `utc_iso`; the parser's
/// name in `labels.vigie_parser` when `labelled` (the caller gave it).
fn finalize<'a>(ev: &mut Map<'a>, dataset: &str, place: &Place, line: &str, keep: bool, labelled: bool) {
    let source = place.source;
    let id = event_id(dataset, place, line).to_hex();
    let event = ev.sub("event"); // the parser never sets these: push, no search
    event.push("id", V::copy(&id));
    event.push("dataset", V::Ext(Ext::Dataset));
    event.push("module", V::Ext(Ext::Module));
    event.push("ingested", V::Ext(Ext::Ingested));
    if keep {
        event.push("original", V::Ext(Ext::Line));
    }
    ev.sub("ecs").set("version", V::Ext(Ext::EcsVersion));
    if labelled {
        ev.sub("labels").set("vigie_parser", V::Ext(Ext::Parser));
    }
    if !source.is_empty() && source != "-" && !source.contains("://") {
        ev.sub("log").sub("file").set("path", V::Ext(Ext::Source));
    }
    let ip = [field(ev, "source", "ip"), field(ev, "destination", "ip")];
    related(ev, "ip", ip.into_iter().flatten());
    let host = field(ev, "destination", "domain");
    related(ev, "hosts", host.into_iter());
}

fn field<'a>(ev: &Map<'a>, side: &str, key: &str) -> Option<V<'a>> {
    match ev.get(side) {
        Some(V::Obj(m)) => m.get(key).cloned(),
        _ => None,
    }
}

/// `_related` for string values (the only kind this parser puts there).
fn related<'a>(ev: &mut Map<'a>, kind: &'static str, values: impl Iterator<Item = V<'a>>) {
    let mut values = values.filter(|v| !matches!(v.as_str(), Some("" | "-"))).peekable();
    if values.peek().is_none() {
        return;
    }
    let related = ev.sub("related");
    if !matches!(related.get(kind), Some(V::Arr(_))) {
        related.set(kind, V::Arr(arena::avec()));
    }
    if let Some(V::Arr(bucket)) = related.get_mut(kind) {
        for v in values {
            if !bucket.contains(&v) {
                bucket.push(v);
            }
        }
    }
}

/// The finalized ECS event of one EVE line, or None (the Python parser then takes the line). Its
/// `@timestamp` was validated and is written `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, fixed width: text
/// order is time order), so the caller needs no datetime per event. The parser's constants come
/// first, so that the parser binds them once (`functools.partial`, with `parser`: its name, which
/// `labels.vigie_parser` keeps; None leaves the label out) and the Ingestor calls
/// `(line, source, keep_original, ingested, identity, position)`.
#[pyfunction]
#[pyo3(signature = (dataset, module, ecs_version, line, source, keep_original, ingested, identity, position, *, parser=None))]
#[allow(clippy::too_many_arguments)]
fn eve_finalized<'py>(
    py: Python<'py>,
    dataset: Bound<'py, PyString>,
    module: Bound<'py, PyString>,
    ecs_version: Bound<'py, PyString>,
    line: Bound<'py, PyString>,
    source: Bound<'py, PyString>,
    keep_original: bool,
    ingested: Bound<'py, PyString>,
    identity: Bound<'py, PyString>,
    position: Bound<'py, PyAny>,
    parser: Option<Bound<'py, PyString>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let (Ok(text), Ok(src), Ok(set), Ok(ident)) = (line.to_str(), source.to_str(), dataset.to_str(), identity.to_str())
    else {
        return Ok(None); // lone surrogates (undecodable input bytes): the Python path cleans them
    };
    let Ok(position) = position.extract::<i64>() else {
        return Ok(None); // not an int of 64 bits: the Python path takes it
    };
    let place = Place { source: src, identity: ident, position };
    let given = py::Given {
        line: &line,
        ingested: &ingested,
        source: &source,
        dataset: &dataset,
        module: &module,
        ecs_version: &ecs_version,
        parser: parser.as_ref(),
    };
    let labelled = parser.is_some();
    let build = || -> PyResult<Option<Bound<'py, PyDict>>> {
        // A bug here must never take the ingest down: a panic is one more declined line.
        let built = std::panic::catch_unwind(|| {
            let mut ev = eve::parse(text).ok()?;
            finalize(&mut ev, set, &place, text, keep_original, labelled);
            Some(ev)
        });
        let Ok(Some(ev)) = built else { return Ok(None) };
        let event = py::dict(py, &ev, &given)?;
        // Everything in the tree is in the arena (strs included): no destructor has work to do.
        std::mem::forget(ev);
        Ok(Some(event))
    };
    // SAFETY: the tree (and every arena string in it) is built and let go of inside `build`;
    // nothing from an earlier scope is kept anywhere.
    unsafe { arena::scope(build) }
}

#[pymodule]
fn vigie_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(eve_finalized, m)?)?;
    m.add_class::<indicators::IndicatorFilter>()?;
    Ok(())
}

/// Many small, short-lived allocations per line (the parsed tree): mimalloc's are cheaper.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
