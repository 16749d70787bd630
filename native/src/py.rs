//! The parsed event to Python objects through the C API (the hot part of the fast path):
//! object keys and the parser's own literals come from a cache of interned strings (literals
//! found by address, text of the line by a hash of its bytes, as orjson caches keys), ASCII text
//! is copied straight into new compact strings, dicts and lists are filled without intermediate
//! references.

use std::ptr;

use pyo3::ffi;

use crate::dict311;
use crate::gil::Gil;
use crate::value::{Ext, Key, Map, V};

/// The caller's objects passed through (borrowed references).
pub struct Given {
    pub line: *mut ffi::PyObject,
    pub ingested: *mut ffi::PyObject,
    pub source: *mut ffi::PyObject,
    pub dataset: *mut ffi::PyObject,
    pub module: *mut ffi::PyObject,
    pub ecs_version: *mut ffi::PyObject,
}

extern "C" {
    /// A dict sized for `minused` items (CPython's, exported; used by Cython too).
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
    /// `PyDict_SetItem` with the key's hash given (CPython's, exported; orjson uses it too).
    fn _PyDict_SetItem_KnownHash(
        mp: *mut ffi::PyObject,
        key: *mut ffi::PyObject,
        item: *mut ffi::PyObject,
        hash: ffi::Py_hash_t,
    ) -> std::os::raw::c_int;
}

/// Keys of the line (and long literals) up to this length are cached; longer ones are rare.
const TEXT_MAX: usize = 24;
const TEXT_SLOTS: usize = 512;
const TEXT_PROBES: usize = 8;
const STATIC_SLOTS: usize = 512;

#[derive(Clone, Copy)]
struct TextSlot {
    len: usize,
    words: [u64; 3],
    obj: *mut ffi::PyObject,
}

#[derive(Clone, Copy)]
struct StaticSlot {
    addr: usize,
    len: usize,
    obj: *mut ffi::PyObject,
}

/// Interned Python strs of object keys and of the parser's literals: literals (`&'static str`)
/// are found by their address in a direct-mapped table, text of the line by a hash of its bytes
/// in a bounded open-addressing table (as orjson caches keys). Entries hold a reference for the
/// life of the process.
struct Keys {
    text: [TextSlot; TEXT_SLOTS],
    statics: [StaticSlot; STATIC_SLOTS],
}

static KEYS: Gil<Keys> = Gil::new(Keys {
    text: [TextSlot { len: 0, words: [0; 3], obj: ptr::null_mut() }; TEXT_SLOTS],
    statics: [StaticSlot { addr: 0, len: 0, obj: ptr::null_mut() }; STATIC_SLOTS],
});

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

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

/// A new interned str (a new reference), or null with the exception set.
unsafe fn interned(s: &str) -> *mut ffi::PyObject {
    let mut obj = new_str(s);
    if !obj.is_null() {
        ffi::PyUnicode_InternInPlace(&mut obj);
    }
    obj
}

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

/// A new reference to an interned str of `s`, cached by content.
unsafe fn text_key(s: &str) -> *mut ffi::PyObject {
    let len = s.len();
    if len > TEXT_MAX {
        return interned(s);
    }
    let words = words(s.as_bytes());
    let h = ((len as u64 ^ words[0]).wrapping_mul(MUL).rotate_left(23) ^ words[1] ^ words[2].rotate_left(7)).wrapping_mul(MUL);
    let keys = KEYS.get();
    let home = (h >> (64 - TEXT_SLOTS.trailing_zeros())) as usize;
    for probe in 0..TEXT_PROBES {
        let slot = &mut keys.text[(home + probe) % TEXT_SLOTS];
        if slot.obj.is_null() {
            let obj = interned(s);
            if !obj.is_null() {
                ffi::Py_INCREF(obj); // the cache's reference
                *slot = TextSlot { len, words, obj };
            }
            return obj;
        }
        if slot.len == len && slot.words == words {
            ffi::Py_INCREF(slot.obj);
            return slot.obj;
        }
    }
    interned(s) // a crowded neighbourhood: not cached
}

/// A new reference to the interned str of a literal of the parser.
unsafe fn static_key(s: &'static str) -> *mut ffi::PyObject {
    let addr = s.as_ptr() as usize;
    let i = ((addr as u64 ^ s.len() as u64).wrapping_mul(MUL) >> (64 - STATIC_SLOTS.trailing_zeros())) as usize;
    {
        let slot = &KEYS.get().statics[i];
        if slot.addr == addr && slot.len == s.len() && !slot.obj.is_null() {
            ffi::Py_INCREF(slot.obj);
            return slot.obj;
        }
    }
    let obj = text_key(s);
    if !obj.is_null() {
        let slot = &mut KEYS.get().statics[i];
        ffi::Py_INCREF(obj); // the slot's reference
        let old = std::mem::replace(slot, StaticSlot { addr, len: s.len(), obj });
        if !old.obj.is_null() {
            ffi::Py_DECREF(old.obj);
        }
    }
    obj
}

/// A new reference to the str of an object key.
#[inline]
unsafe fn key(k: &Key<'_>) -> *mut ffi::PyObject {
    match k {
        Key::Static(s) => static_key(s),
        Key::Text(t) => text_key(t),
    }
}

/// A new reference to the Python value of `v`; null with an exception set on failure.
#[inline(always)]
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
        V::Lit(s) => static_key(s),
        V::Arr(items) => list(items, given),
        V::Obj(map) => dict(map, given),
        V::Gone => {
            ffi::PyErr_SetString(ffi::PyExc_SystemError, c"vigie_native: a removed pair was built".as_ptr());
            ptr::null_mut()
        }
        V::Ext(ext) => {
            let obj = match ext {
                Ext::Line => given.line,
                Ext::Ingested => given.ingested,
                Ext::Source => given.source,
                Ext::Dataset => given.dataset,
                Ext::Module => given.module,
                Ext::EcsVersion => given.ecs_version,
            };
            ffi::Py_INCREF(obj);
            obj
        }
    }
}

/// A new reference to a list of `items`; null with an exception set on failure.
#[inline(never)]
unsafe fn list(items: &[V<'_>], given: &Given) -> *mut ffi::PyObject {
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
    ffi::PyObject_GC_UnTrack(list.cast());
    list
}

/// A new reference to a dict of `map`; null with an exception set on failure.
#[inline(never)]
pub unsafe fn dict(map: &Map<'_>, given: &Given) -> *mut ffi::PyObject {
    let len = map.len();
    let (out, direct) = match dict311::with_room(len) {
        Some(d) => (d, true),
        None => (if len > 5 { _PyDict_NewPresized(len as ffi::Py_ssize_t) } else { ffi::PyDict_New() }, false),
    };
    if out.is_null() {
        return out;
    }
    for (name, v) in map.pairs() {
        let k = key(name);
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
        if direct && dict311::push(out, k, obj) {
            continue; // both references taken
        }
        // keys are interned strs: their hash is already computed (else -1: the plain call)
        let hash = (*k.cast::<ffi::PyASCIIObject>()).hash;
        let rc = if hash != -1 { _PyDict_SetItem_KnownHash(out, k, obj, hash) } else { ffi::PyDict_SetItem(out, k, obj) };
        ffi::Py_DECREF(k);
        ffi::Py_DECREF(obj);
        if rc != 0 {
            ffi::Py_DECREF(out);
            return ptr::null_mut();
        }
    }
    ffi::PyObject_GC_UnTrack(out.cast());
    out
}
