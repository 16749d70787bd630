//! `vigie_native`: native fast paths of Vigie's ingest.
//!
//! `eve_finalized(dataset, module, ecs_version, line, source, keep_original, ingested, *, parser=None)`
//! gives, for one Suricata EVE line, the event that `SuricataEveParser.parse` followed by
//! `cert.pipeline.ingestor._finalize` gives (the same dict), with its `@timestamp` as an aware datetime;
//! or None when the line is not on the fast path: anything unusual (bad JSON, odd types,
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

/// What `_finalize` adds for a parser whose event has `event.kind`, no `event.dataset` or
/// `event.module`, no `client`, `host` or `user`, and a `@timestamp` from `utc_iso`; the parser's
/// name in `labels.vigie_parser` when `labelled` (the caller gave it).
fn finalize<'a>(ev: &mut Map<'a>, dataset: &str, source: &str, line: &str, keep: bool, labelled: bool) {
    let mut hasher = blake2b_simd::Params::new().hash_length(16).to_state();
    hasher.update(dataset.as_bytes());
    hasher.update(b"\x00");
    hasher.update(source.as_bytes());
    hasher.update(b"\x00");
    hasher.update(line.as_bytes());
    let id = hasher.finalize().to_hex();
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
/// `(line, source, keep_original, ingested)`.
#[pyfunction]
#[pyo3(signature = (dataset, module, ecs_version, line, source, keep_original, ingested, *, parser=None))]
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
    parser: Option<Bound<'py, PyString>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let (Ok(text), Ok(src), Ok(set)) = (line.to_str(), source.to_str(), dataset.to_str()) else {
        return Ok(None); // lone surrogates (undecodable input bytes): the Python path cleans them
    };
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
            finalize(&mut ev, set, src, text, keep_original, labelled);
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
