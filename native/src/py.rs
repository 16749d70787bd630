//! The parsed event to Python objects, through PyO3's API. Object keys and the parser's own
//! literals come from a per-thread cache of interned strings (literals found by address, text of
//! the line by a hash of its bytes, as orjson caches keys), so the usual keys are not made anew
//! for every event.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use crate::value::{Ext, Key, Map, V};

/// The caller's objects passed through.
pub struct Given<'a, 'py> {
    pub line: &'a Bound<'py, PyString>,
    pub ingested: &'a Bound<'py, PyString>,
    pub source: &'a Bound<'py, PyString>,
    pub dataset: &'a Bound<'py, PyString>,
    pub module: &'a Bound<'py, PyString>,
    pub ecs_version: &'a Bound<'py, PyString>,
    /// the parser's name (`labels.vigie_parser`), when given
    pub parser: Option<&'a Bound<'py, PyString>>,
}

/// Keys of the line (and long literals) up to this length are cached; longer ones are rare.
const TEXT_MAX: usize = 24;
const TEXT_SLOTS: usize = 512;
const TEXT_PROBES: usize = 8;
const STATIC_SLOTS: usize = 512;

struct TextSlot {
    len: usize,
    words: [u64; 3],
    obj: Py<PyString>,
}

struct StaticSlot {
    addr: usize,
    len: usize,
    obj: Py<PyString>,
}

/// Interned Python strs of object keys and of the parser's literals: literals (`&'static str`)
/// are found by their address in a direct-mapped table, text of the line by a hash of its bytes
/// in a bounded open-addressing table.
struct Keys {
    text: Vec<Option<TextSlot>>,
    statics: Vec<Option<StaticSlot>>,
}

thread_local! {
    static KEYS: RefCell<Keys> = RefCell::new(Keys {
        text: (0..TEXT_SLOTS).map(|_| None).collect(),
        statics: (0..STATIC_SLOTS).map(|_| None).collect(),
    });
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Text of up to 24 bytes as three words that, with its length, tell it apart from any other:
/// overlapping loads of its first and last bytes (and the middle 8 beyond 16), so nothing is
/// copied and nothing past its end is read.
#[inline]
fn words(b: &[u8]) -> [u64; 3] {
    let n = b.len();
    let w8 = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let w4 = |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4])));
    match n {
        0 => [0; 3],
        1..=3 => [u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16, 0, 0],
        4..=7 => [w4(0) | w4(n - 4) << 32, 0, 0],
        8..=16 => [w8(0), w8(n - 8), 0],
        _ => [w8(0), w8(n - 8), w8(8)],
    }
}

/// The cache is only borrowed for a lookup or a store, never while Python code could run (making
/// a str may collect garbage, and a finalizer may call this module again): a cache already
/// borrowed is skipped.
fn with_keys<R>(f: impl FnOnce(&mut Keys) -> R) -> Option<R> {
    KEYS.with(|keys| keys.try_borrow_mut().ok().map(|mut keys| f(&mut keys)))
}

/// An interned str of `s`, cached by content.
fn text_key<'py>(py: Python<'py>, s: &str) -> Bound<'py, PyString> {
    let len = s.len();
    if len > TEXT_MAX {
        return PyString::intern(py, s);
    }
    let words = words(s.as_bytes());
    let h = ((len as u64 ^ words[0]).wrapping_mul(MUL).rotate_left(23) ^ words[1] ^ words[2].rotate_left(7)).wrapping_mul(MUL);
    let home = (h >> (64 - TEXT_SLOTS.trailing_zeros())) as usize;
    // the cached str, or the free slot it may take
    let found = with_keys(|keys| {
        for probe in 0..TEXT_PROBES {
            let i = (home + probe) % TEXT_SLOTS;
            match &keys.text[i] {
                None => return Err(Some(i)),
                Some(slot) if slot.len == len && slot.words == words => return Ok(slot.obj.bind(py).clone()),
                Some(_) => {}
            }
        }
        Err(None) // a crowded neighbourhood: not cached
    });
    match found {
        Some(Ok(obj)) => obj,
        Some(Err(free)) => {
            let obj = PyString::intern(py, s);
            if let Some(i) = free {
                with_keys(|keys| {
                    if keys.text[i].is_none() {
                        keys.text[i] = Some(TextSlot { len, words, obj: obj.clone().unbind() });
                    }
                });
            }
            obj
        }
        None => PyString::intern(py, s),
    }
}

/// The interned str of a literal of the parser.
fn static_key<'py>(py: Python<'py>, s: &'static str) -> Bound<'py, PyString> {
    let addr = s.as_ptr() as usize;
    let i = ((addr as u64 ^ s.len() as u64).wrapping_mul(MUL) >> (64 - STATIC_SLOTS.trailing_zeros())) as usize;
    let cached = with_keys(|keys| match &keys.statics[i] {
        Some(slot) if slot.addr == addr && slot.len == s.len() => Some(slot.obj.bind(py).clone()),
        _ => None,
    });
    if let Some(Some(obj)) = cached {
        return obj;
    }
    let obj = text_key(py, s);
    with_keys(|keys| keys.statics[i] = Some(StaticSlot { addr, len: s.len(), obj: obj.clone().unbind() }));
    obj
}

/// The str of an object key.
#[inline]
fn key<'py>(py: Python<'py>, k: &Key<'_>) -> Bound<'py, PyString> {
    match k {
        Key::Static(s) => static_key(py, s),
        Key::Text(t) => text_key(py, t),
    }
}

/// The Python value of `v`.
pub fn value<'py>(py: Python<'py>, v: &V<'_>, given: &Given<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        V::Null => py.None().into_bound(py),
        V::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        V::Int(i) => i.into_pyobject(py)?.into_any(),
        V::UInt(u) => u.into_pyobject(py)?.into_any(),
        V::Float(f) => PyFloat::new(py, *f).into_any(),
        V::Str(s) => PyString::new(py, s).into_any(),
        V::Lit(s) => static_key(py, s).into_any(),
        V::Arr(items) => {
            let items = items.iter().map(|item| value(py, item, given)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        V::Obj(map) => dict(py, map, given)?.into_any(),
        V::Gone => return Err(pyo3::exceptions::PySystemError::new_err("vigie_native: a removed pair was built")),
        V::Ext(ext) => match ext {
            Ext::Line => given.line,
            Ext::Ingested => given.ingested,
            Ext::Source => given.source,
            Ext::Dataset => given.dataset,
            Ext::Module => given.module,
            Ext::EcsVersion => given.ecs_version,
            Ext::Parser => match given.parser {
                Some(name) => name,
                None => return Err(pyo3::exceptions::PySystemError::new_err("vigie_native: no parser name was given")),
            },
        }
        .clone()
        .into_any(),
    })
}

/// A dict of `map`, keys in its order.
pub fn dict<'py>(py: Python<'py>, map: &Map<'_>, given: &Given<'_, 'py>) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (name, v) in map.pairs() {
        out.set_item(key(py, name), value(py, v, given)?)?;
    }
    Ok(out)
}
