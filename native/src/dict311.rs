//! Dicts of an event built straight into CPython 3.11's table (the layout of its
//! `Include/internal/pycore_dict.h`), instead of one `PyDict_SetItem` per key: each of those looks
//! the key up, finds a free slot, checks the table's room, and maintains GC tracking, for a dict
//! that nobody else has seen yet and whose keys are known to be interned strs (their hash
//! computed). The table is allocated at its final size as `new_keys_object` would, and the pairs
//! are written where `insertdict` would write them, so that the dict is the same as one built by
//! the API, down to its probe sequence.
//!
//! Used only on CPython 3.11 (checked when the module is imported: `enable`); other versions, and
//! any key that is not an exact, hashed str, take the API. A key met twice in one dict (which the
//! parser never builds) is not written twice: its value replaces the first, as the API would do.

use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

/// `PyDictObject` (Include/cpython/dictobject.h, 3.11).
#[repr(C)]
struct DictObject {
    ob_base: ffi::PyObject,
    ma_used: ffi::Py_ssize_t,
    ma_version_tag: u64,
    ma_keys: *mut KeysObject,
    ma_values: *mut std::ffi::c_void,
}

/// `struct _dictkeysobject` (Include/internal/pycore_dict.h, 3.11); `dk_indices` follows.
#[repr(C)]
struct KeysObject {
    dk_refcnt: ffi::Py_ssize_t,
    dk_log2_size: u8,
    dk_log2_index_bytes: u8,
    dk_kind: u8,
    dk_version: u32,
    dk_usable: ffi::Py_ssize_t,
    dk_nentries: ffi::Py_ssize_t,
}

/// `PyDictUnicodeEntry`
#[repr(C)]
struct UnicodeEntry {
    me_key: *mut ffi::PyObject,
    me_value: *mut ffi::PyObject,
}

const DICT_KEYS_UNICODE: u8 = 1;
const PERTURB_SHIFT: u32 = 5;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turn the direct path on when the running interpreter is CPython 3.11 and its dicts look as
/// described above (checked on dicts made by the API: a mismatch leaves the API in use).
pub unsafe fn enable(version: (u8, u8), cpython: bool) -> bool {
    let on = cpython && version == (3, 11) && cfg!(target_pointer_width = "64") && layout_holds();
    ENABLED.store(on, Ordering::Relaxed);
    on
}

/// Whether the direct path is in use.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What `with_room` and `push` rely on, read back from dicts the API made: new dicts share a
/// counted empty table; three str keys make a combined str table of 8 slots (1-byte indices)
/// with the entries in order and each key at the slot of its probe sequence.
unsafe fn layout_holds() -> bool {
    let (a, b) = (ffi::PyDict_New(), ffi::PyDict_New());
    let keys: Vec<*mut ffi::PyObject> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|s| {
            let mut k = ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as ffi::Py_ssize_t);
            if !k.is_null() {
                ffi::PyUnicode_InternInPlace(&mut k);
            }
            k
        })
        .collect();
    let mut holds = !a.is_null() && !b.is_null() && keys.iter().all(|k| !k.is_null());
    if holds {
        let (da, db) = (a.cast::<DictObject>(), b.cast::<DictObject>());
        let empty = (*da).ma_keys;
        let count = (*empty).dk_refcnt;
        let c = ffi::PyDict_New();
        holds = !c.is_null()
            && (*db).ma_keys == empty
            && (*c.cast::<DictObject>()).ma_keys == empty
            && (*empty).dk_refcnt == count + 1
            && (*da).ma_values.is_null()
            && (*da).ma_used == 0
            && (*empty).dk_usable == 0
            && (*empty).dk_nentries == 0
            && (*empty).dk_kind == DICT_KEYS_UNICODE;
        if !c.is_null() {
            ffi::Py_DECREF(c);
        }
        holds = holds && (*empty).dk_refcnt == count;
        for (i, k) in keys.iter().enumerate() {
            holds = holds && ffi::PyDict_SetItem(a, *k, ffi::Py_None()) == 0;
            holds = holds && (*da).ma_used == i as ffi::Py_ssize_t + 1;
        }
        let table = (*da).ma_keys;
        holds = holds
            && table != empty
            && (*table).dk_refcnt == 1
            && (*table).dk_log2_size == 3
            && (*table).dk_log2_index_bytes == 3
            && (*table).dk_kind == DICT_KEYS_UNICODE
            && (*table).dk_nentries == 3
            && (*table).dk_usable == usable(3) as ffi::Py_ssize_t - 3;
        if holds {
            let indices = table.add(1).cast::<i8>();
            let entries = indices.add(8).cast::<UnicodeEntry>();
            for (n, k) in keys.iter().enumerate() {
                let e = &*entries.add(n);
                holds = holds && e.me_key == *k && e.me_value == ffi::Py_None();
                // the first free slot of the probe sequence when the key went in
                let hash = (*k.cast::<ffi::PyASCIIObject>()).hash as usize;
                let (mut perturb, mut i) = (hash, hash & 7);
                while indices.add(i).read() != n as i8 {
                    let ix = indices.add(i).read();
                    if ix < 0 || ix as usize > n {
                        holds = false;
                        break;
                    }
                    perturb >>= PERTURB_SHIFT;
                    i = (i * 5 + perturb + 1) & 7;
                }
            }
        }
    }
    for obj in [a, b].into_iter().chain(keys) {
        if !obj.is_null() {
            ffi::Py_DECREF(obj);
        }
    }
    ffi::PyErr_Clear();
    holds
}

/// `USABLE_FRACTION`
fn usable(log2_size: u8) -> usize {
    ((1usize << log2_size) << 1) / 3
}

/// A new empty dict whose table has room for `n` str keys, or None when the direct path is off
/// (then use `PyDict_New` and the API). Null inside with the exception set on failure.
pub unsafe fn with_room(n: usize) -> Option<*mut ffi::PyObject> {
    if !ENABLED.load(Ordering::Relaxed) || n == 0 {
        return None;
    }
    let mut log2_size = 3u8; // PyDict_LOG_MINSIZE
    while usable(log2_size) < n {
        log2_size += 1;
    }
    if log2_size >= 16 {
        return None; // 2-byte indices and beyond: not worth a path of their own
    }
    let log2_index_bytes = if log2_size < 8 { log2_size } else { log2_size + 1 };
    let room = usable(log2_size);
    let index_bytes = 1usize << log2_index_bytes;
    let size = std::mem::size_of::<KeysObject>() + index_bytes + room * std::mem::size_of::<UnicodeEntry>();
    let dict = ffi::PyDict_New();
    if dict.is_null() {
        return Some(dict);
    }
    let keys = ffi::PyObject_Malloc(size).cast::<KeysObject>();
    if keys.is_null() {
        ffi::Py_DECREF(dict);
        ffi::PyErr_NoMemory();
        return Some(ptr::null_mut());
    }
    keys.write(KeysObject {
        dk_refcnt: 1,
        dk_log2_size: log2_size,
        dk_log2_index_bytes: log2_index_bytes,
        dk_kind: DICT_KEYS_UNICODE,
        dk_version: 0,
        dk_usable: room as ffi::Py_ssize_t,
        dk_nentries: 0,
    });
    let indices = keys.add(1).cast::<u8>();
    ptr::write_bytes(indices, 0xff, index_bytes); // DKIX_EMPTY
    ptr::write_bytes(indices.add(index_bytes), 0, room * std::mem::size_of::<UnicodeEntry>());
    let d = dict.cast::<DictObject>();
    // PyDict_New shares the empty table (and counted a reference to it)
    (*(*d).ma_keys).dk_refcnt -= 1;
    (*d).ma_keys = keys;
    Some(dict)
}

/// Add `key: value` to a dict made by `with_room`, taking both references. False (nothing
/// taken) when the key is not an exact str with its hash computed, or the table has no room:
/// the caller then uses the API.
#[inline]
pub unsafe fn push(dict: *mut ffi::PyObject, key: *mut ffi::PyObject, value: *mut ffi::PyObject) -> bool {
    if ffi::Py_TYPE(key) != ptr::addr_of_mut!(ffi::PyUnicode_Type) {
        return false;
    }
    let hash = (*key.cast::<ffi::PyASCIIObject>()).hash;
    let d = dict.cast::<DictObject>();
    let keys = (*d).ma_keys;
    if hash == -1 || (*keys).dk_usable <= 0 || (*keys).dk_kind != DICT_KEYS_UNICODE {
        return false;
    }
    let log2_size = (*keys).dk_log2_size;
    let wide = log2_size >= 8; // 2-byte indices (with_room never makes larger ones)
    let indices = keys.add(1).cast::<u8>();
    let entries = indices.add(1usize << (*keys).dk_log2_index_bytes).cast::<UnicodeEntry>();
    let mask = (1usize << log2_size) - 1;
    let mut perturb = hash as usize;
    let mut i = perturb & mask;
    loop {
        let ix = if wide { isize::from(indices.cast::<i16>().add(i).read()) } else { isize::from(indices.cast::<i8>().add(i).read()) };
        if ix == -1 {
            break;
        }
        if ix >= 0 {
            let entry = &mut *entries.add(ix as usize);
            if entry.me_key == key
                || ((*entry.me_key.cast::<ffi::PyASCIIObject>()).hash == hash
                    && ffi::PyUnicode_Compare(entry.me_key, key) == 0)
            {
                // the same key again: replace, as PyDict_SetItem would
                let old = std::mem::replace(&mut entry.me_value, value);
                ffi::Py_DECREF(key);
                ffi::Py_DECREF(old);
                return true;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + perturb + 1) & mask;
    }
    let n = (*keys).dk_nentries;
    if wide {
        indices.cast::<i16>().add(i).write(n as i16);
    } else {
        indices.cast::<i8>().add(i).write(n as i8);
    }
    entries.add(n as usize).write(UnicodeEntry { me_key: key, me_value: value });
    (*keys).dk_nentries = n + 1;
    (*keys).dk_usable -= 1;
    (*d).ma_used += 1;
    true
}
