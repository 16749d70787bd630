//! The parsed event to Python objects through the C API (the hot part of the fast path):
//! object keys and the parser's own literals come from a per-thread cache of interned strings
//! (their hashes computed once, as orjson does with keys), ASCII text is copied straight into
//! new compact strings, dicts and lists are filled without intermediate references.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;

use pyo3::ffi;

use crate::value::{Ext, Map, V};

/// The caller's objects passed through (borrowed references).
pub struct Given {
    pub line: *mut ffi::PyObject,
    pub ingested: *mut ffi::PyObject,
    pub source: *mut ffi::PyObject,
}

/// An FxHash-style hash, 8 bytes at a time: short keys, and no need for SipHash's flooding
/// resistance (the cache is bounded).
#[derive(Default)]
struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

extern "C" {
    /// A dict sized for `minused` items (CPython's, exported; used by Cython too).
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
}

const CACHE_MAX: usize = 4096;
const KEY_MAX_LEN: usize = 64;

thread_local! {
    static KEYS: RefCell<HashMap<Box<str>, usize, BuildHasherDefault<Fx>>> = RefCell::new(HashMap::default());
}

/// A new reference to a str with this text.
unsafe fn new_str(s: &str) -> *mut ffi::PyObject {
    if s.is_ascii() {
        let obj = ffi::PyUnicode_New(s.len() as ffi::Py_ssize_t, 127);
        if !obj.is_null() {
            ptr::copy_nonoverlapping(s.as_ptr(), ffi::PyUnicode_1BYTE_DATA(obj), s.len());
        }
        obj
    } else {
        ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as ffi::Py_ssize_t)
    }
}

/// A new reference to an interned str, from the cache when the text is short.
unsafe fn key_str(s: &str) -> *mut ffi::PyObject {
    if s.len() > KEY_MAX_LEN {
        return new_str(s);
    }
    KEYS.with(|cell| {
        let mut keys = cell.borrow_mut();
        if let Some(&obj) = keys.get(s) {
            let obj = obj as *mut ffi::PyObject;
            ffi::Py_INCREF(obj);
            return obj;
        }
        let mut obj = new_str(s);
        if obj.is_null() {
            return obj;
        }
        ffi::PyUnicode_InternInPlace(&mut obj);
        if keys.len() < CACHE_MAX {
            ffi::Py_INCREF(obj); // the cache's reference, kept for the life of the process
            keys.insert(s.into(), obj as usize);
        }
        obj
    })
}

/// A new reference to the Python value of `v`; null with an exception set on failure.
pub unsafe fn value(v: &V<'_>, given: &Given) -> *mut ffi::PyObject {
    match v {
        V::Null => {
            let none = ffi::Py_None();
            ffi::Py_INCREF(none);
            none
        }
        V::Bool(b) => {
            let obj = if *b { ffi::Py_True() } else { ffi::Py_False() };
            ffi::Py_INCREF(obj);
            obj
        }
        V::Int(i) => ffi::PyLong_FromLongLong(*i),
        V::UInt(u) => ffi::PyLong_FromUnsignedLongLong(*u),
        V::Float(f) => ffi::PyFloat_FromDouble(*f),
        V::Str(s) => new_str(s),
        V::Lit(s) => key_str(s),
        V::Arr(items) => {
            let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
            if list.is_null() {
                return list;
            }
            for (i, item) in items.iter().enumerate() {
                let obj = value(item, given);
                if obj.is_null() {
                    ffi::Py_DECREF(list);
                    return obj;
                }
                ffi::PyList_SET_ITEM(list, i as ffi::Py_ssize_t, obj); // steals obj
            }
            list
        }
        V::Obj(map) => dict(map, given),
        V::Ext(ext) => {
            let obj = match ext {
                Ext::Line => given.line,
                Ext::Ingested => given.ingested,
                Ext::Source => given.source,
            };
            ffi::Py_INCREF(obj);
            obj
        }
    }
}

/// A new reference to a dict of `map`; null with an exception set on failure.
pub unsafe fn dict(map: &Map<'_>, given: &Given) -> *mut ffi::PyObject {
    let out = if map.0.len() > 5 { _PyDict_NewPresized(map.0.len() as ffi::Py_ssize_t) } else { ffi::PyDict_New() };
    if out.is_null() {
        return out;
    }
    for (key, v) in &map.0 {
        let k = key_str(key);
        if k.is_null() {
            ffi::Py_DECREF(out);
            return k;
        }
        let obj = value(v, given);
        if obj.is_null() {
            ffi::Py_DECREF(k);
            ffi::Py_DECREF(out);
            return obj;
        }
        let rc = ffi::PyDict_SetItem(out, k, obj);
        ffi::Py_DECREF(k);
        ffi::Py_DECREF(obj);
        if rc != 0 {
            ffi::Py_DECREF(out);
            return ptr::null_mut();
        }
    }
    out
}
