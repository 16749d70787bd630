//! `IndicatorFilter`: the native pre-filter of the indicator detector's scan.
//!
//! Built once per indicator index from its keys (exact addresses, domains, URL keys, hashes,
//! e-mail addresses, JA3/JA3S) and its CIDR interval tables; `scan(events)` walks the events'
//! dicts at the detector's field paths through the C API (interned keys, no allocation for a
//! miss) and gives `(position, field index, value)` for every string value that MIGHT be an
//! indicator. Python then runs the index's own lookups on those only: false positives cost a
//! lookup, false negatives would lose alerts, so every test here is a superset of the Python
//! lookup it stands for (`cert.detection.indicators.index.IndicatorIndex`):
//!
//! * ip: the text parsed as glibc's `inet_pton` does (zone suffix cut, IPv4-mapped IPv6 as IPv4),
//!   then the address among the exact addresses (parsed the same way) or in a network interval;
//! * domain: ASCII-lowercased, trailing dots stripped, the name and each parent suffix;
//! * url: the scheme cut within the first 10 characters, the host lowercased, the trailing-slash
//!   rule, the host pre-check;
//! * hash: the text or its lowercase; email, ja3, ja3s: the lowercase;
//! * the url join (`url.domain` + `url.original` starting with '/'), after that object's fields.
//!
//! Keys are kept as 64-bit hashes (collisions are only false positives). Text that is not plain
//! ASCII is passed through (Python's `lower()` is not ASCII's), as are unknown kinds; an event that
//! is not exactly a dict comes back as `(position, -1, None)`: Python scans it whole.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A 64-bit hash of a key's bytes (8 bytes at a time, then mixed).
#[inline]
fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = (b.len() as u64 ^ 0x5bd1_e995).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    fmix(h)
}

/// Hasher of the sets: the u64 keys are already hashes; addresses are mixed.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fmix(self.0 ^ hash_bytes(bytes));
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = fmix(u64::from(i) ^ K);
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    fn write_u128(&mut self, i: u128) {
        self.0 = fmix(fmix(i as u64) ^ (i >> 64) as u64);
    }
}

type Set<T> = HashSet<T, BuildHasherDefault<Mix>>;

// ------------------------------------------------------------------ addresses (glibc inet_pton)

/// glibc's `inet_pton4`: four decimal octets, no leading zero, nothing else.
fn parse4(s: &[u8]) -> Option<u32> {
    let (mut saw_digit, mut octets, mut cur, mut acc) = (false, 0, 0u32, 0u32);
    for &c in s {
        if c.is_ascii_digit() {
            if saw_digit && cur == 0 {
                return None;
            }
            let new = cur * 10 + u32::from(c - b'0');
            if new > 255 {
                return None;
            }
            cur = new;
            if !saw_digit {
                octets += 1;
                if octets > 4 {
                    return None;
                }
                saw_digit = true;
            }
        } else if c == b'.' && saw_digit {
            if octets == 4 {
                return None;
            }
            acc = (acc << 8) | cur;
            cur = 0;
            saw_digit = false;
        } else {
            return None;
        }
    }
    if octets < 4 {
        return None;
    }
    Some((acc << 8) | cur)
}

/// glibc's `inet_pton6` (2.26+), except that a `::` standing for no group at all is accepted
/// (older versions did; a superset is safe here).
fn parse6(s: &[u8]) -> Option<u128> {
    let mut tmp = [0u8; 16];
    let (mut tp, mut colonp) = (0usize, None::<usize>);
    if s.is_empty() {
        return None;
    }
    let mut i = 0;
    if s[0] == b':' {
        i = 1;
        if s.len() < 2 || s[1] != b':' {
            return None;
        }
    }
    let (mut curtok, mut xdigits, mut val) = (i, 0, 0u32);
    while i < s.len() {
        let ch = s[i];
        i += 1;
        if let Some(d) = (ch as char).to_digit(16) {
            if xdigits == 4 {
                return None;
            }
            val = (val << 4) | d;
            xdigits += 1;
            continue;
        }
        if ch == b':' {
            curtok = i;
            if xdigits == 0 {
                if colonp.is_some() {
                    return None;
                }
                colonp = Some(tp);
                continue;
            } else if i == s.len() {
                return None;
            }
            if tp + 2 > 16 {
                return None;
            }
            tmp[tp] = (val >> 8) as u8;
            tmp[tp + 1] = val as u8;
            tp += 2;
            xdigits = 0;
            val = 0;
            continue;
        }
        if ch == b'.' && tp + 4 <= 16 {
            if let Some(v4) = parse4(&s[curtok..]) {
                tmp[tp..tp + 4].copy_from_slice(&v4.to_be_bytes());
                tp += 4;
                xdigits = 0;
                break;
            }
        }
        return None;
    }
    if xdigits > 0 {
        if tp + 2 > 16 {
            return None;
        }
        tmp[tp] = (val >> 8) as u8;
        tmp[tp + 1] = val as u8;
        tp += 2;
    }
    if let Some(c) = colonp {
        let n = tp - c;
        tmp.copy_within(c..tp, 16 - n);
        tmp[c..16 - n].fill(0);
        tp = 16;
    }
    if tp != 16 {
        return None;
    }
    Some(u128::from_be_bytes(tmp))
}

enum Addr {
    V4(u32),
    V6(u128),
}

/// The address `IndicatorIndex.ip` looks up for this text, or None when it finds none.
fn parse_ip(s: &[u8]) -> Option<Addr> {
    if s.contains(&b':') {
        let s = match s.iter().position(|&c| c == b'%') {
            Some(i) => &s[..i],
            None => s,
        };
        let a = parse6(s)?;
        if a >> 32 == 0xffff {
            Some(Addr::V4(a as u32))
        } else {
            Some(Addr::V6(a))
        }
    } else {
        parse4(s).map(Addr::V4)
    }
}

/// Disjoint sorted [start, end] intervals.
struct Nets<T> {
    starts: Vec<T>,
    ends: Vec<T>,
}

impl<T: Ord + Copy> Nets<T> {
    fn new(starts: Vec<T>, ends: Vec<T>) -> PyResult<Self> {
        if starts.len() != ends.len() || starts.windows(2).any(|w| w[0] > w[1]) {
            return Err(PyValueError::new_err("network intervals: starts must be sorted and as many as ends"));
        }
        Ok(Nets { starts, ends })
    }

    #[inline]
    fn contains(&self, x: T) -> bool {
        let i = self.starts.partition_point(|&s| s <= x);
        i > 0 && x <= self.ends[i - 1]
    }

    fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn nbytes(&self) -> usize {
        (self.starts.capacity() + self.ends.capacity()) * std::mem::size_of::<T>()
    }
}

// ------------------------------------------------------------------ the filter

#[derive(Clone, Copy)]
enum Mode {
    Ip,
    Domain(usize),
    Url(usize),
    ExactOrLower(usize),
    Lower(usize),
    Any,
}

struct Entry {
    field: isize,
    key: Py<PyString>,
    key2: Option<Py<PyString>>,
    mode: Mode,
}

struct Top {
    key: Py<PyString>,
    entries: Vec<Entry>,
    join: Option<(Py<PyString>, Py<PyString>)>,
}

/// The candidates found so far: owned references, released if the scan fails.
struct Found(Vec<(isize, isize, *mut ffi::PyObject)>);

impl Found {
    /// # Safety
    /// The GIL is held and `obj` is a live object (a new reference to it is taken).
    unsafe fn push(&mut self, pos: isize, field: isize, obj: *mut ffi::PyObject) {
        ffi::Py_INCREF(obj);
        self.0.push((pos, field, obj));
    }
}

impl Drop for Found {
    fn drop(&mut self) {
        for &(_, _, obj) in &self.0 {
            // SAFETY: each pointer holds the reference taken in push; the GIL is held for the
            // whole scan (Found never leaves it).
            unsafe { ffi::Py_DECREF(obj) };
        }
    }
}

/// The ASCII text of an exact str, None for anything else (non-ASCII, lone surrogates).
///
/// # Safety
/// The GIL is held, `obj` is a live str, and the bytes are not used after it may have been
/// freed (its UTF-8 buffer lives as long as the str).
#[inline]
unsafe fn ascii<'a>(obj: *mut ffi::PyObject) -> Option<&'a [u8]> {
    let mut size: ffi::Py_ssize_t = 0;
    let data = ffi::PyUnicode_AsUTF8AndSize(obj, &mut size);
    if data.is_null() {
        ffi::PyErr_Clear();
        return None;
    }
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
    if bytes.is_ascii() {
        Some(bytes)
    } else {
        None
    }
}

#[pyclass(frozen, module = "vigie_native")]
pub struct IndicatorFilter {
    tops: Vec<Top>,
    v4: Set<u32>,
    v6: Set<u128>,
    nets4: Nets<u32>,
    nets6: Nets<u128>,
    sets: Vec<Set<u64>>,
    url_hosts: Set<u64>,
    url_set: Option<usize>,
    join_field: isize,
}

type FieldSpec = (String, Option<String>, String, String);

fn set_nbytes<T>(s: &HashSet<T, BuildHasherDefault<Mix>>) -> usize {
    s.capacity() * (std::mem::size_of::<T>() + 1)
}

impl IndicatorFilter {
    #[inline]
    fn ip(&self, s: &[u8]) -> bool {
        match parse_ip(s) {
            Some(Addr::V4(a)) => self.v4.contains(&a) || (!self.nets4.is_empty() && self.nets4.contains(a)),
            Some(Addr::V6(a)) => self.v6.contains(&a) || (!self.nets6.is_empty() && self.nets6.contains(a)),
            None => false,
        }
    }

    #[inline]
    fn url(&self, set: &Set<u64>, s: &[u8], buf: &mut Vec<u8>) -> bool {
        let rest = match s.windows(3).position(|w| w == b"://") {
            Some(i) if i < 10 => &s[i + 3..],
            _ => s,
        };
        let hl = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        buf.clear();
        buf.extend(rest[..hl].iter().map(u8::to_ascii_lowercase));
        if !self.url_hosts.contains(&hash_bytes(buf)) {
            return false;
        }
        if rest.len() != hl + 1 {
            buf.extend_from_slice(&rest[hl..]); // else "host/": the key is the host alone
        }
        set.contains(&hash_bytes(buf))
    }

    /// Whether the str `x` might be an indicator of this mode.
    ///
    /// # Safety
    /// The GIL is held and `x` is a live str.
    #[inline]
    unsafe fn maybe(&self, mode: Mode, x: *mut ffi::PyObject, buf: &mut Vec<u8>) -> bool {
        if let Mode::Any = mode {
            return true;
        }
        let Some(s) = ascii(x) else {
            return !matches!(mode, Mode::Ip); // inet_pton takes no non-ASCII text
        };
        match mode {
            Mode::Ip => self.ip(s),
            Mode::Domain(k) => {
                let set = &self.sets[k];
                buf.clear();
                buf.extend(s.iter().map(u8::to_ascii_lowercase));
                let mut d: &[u8] = buf;
                while let [rest @ .., b'.'] = d {
                    d = rest;
                }
                loop {
                    if set.contains(&hash_bytes(d)) {
                        return true;
                    }
                    match d.iter().position(|&c| c == b'.') {
                        Some(i) => d = &d[i + 1..],
                        None => return false,
                    }
                }
            }
            Mode::Url(k) => self.url(&self.sets[k], s, buf),
            Mode::ExactOrLower(k) => {
                let set = &self.sets[k];
                if set.contains(&hash_bytes(s)) {
                    return true;
                }
                buf.clear();
                buf.extend(s.iter().map(u8::to_ascii_lowercase));
                set.contains(&hash_bytes(buf))
            }
            Mode::Lower(k) => {
                buf.clear();
                buf.extend(s.iter().map(u8::to_ascii_lowercase));
                self.sets[k].contains(&hash_bytes(buf))
            }
            Mode::Any => true,
        }
    }

    /// Whether `url.domain + url.original` might be an indicator (`_url_with_host`).
    ///
    /// # Safety
    /// The GIL is held; `domain` and `original` are null or live objects.
    unsafe fn maybe_join(&self, domain: *mut ffi::PyObject, original: *mut ffi::PyObject, buf: &mut Vec<u8>) -> bool {
        let Some(k) = self.url_set else { return false };
        if domain.is_null() || original.is_null() || ffi::PyUnicode_Check(domain) == 0 || ffi::PyUnicode_Check(original) == 0 {
            return false; // isinstance(..., str) fails: no join
        }
        if ffi::PyUnicode_CheckExact(domain) == 0 || ffi::PyUnicode_CheckExact(original) == 0 {
            return true; // str subclasses: Python decides
        }
        let (Some(d), Some(o)) = (ascii(domain), ascii(original)) else { return true };
        if o.first() != Some(&b'/') {
            return false;
        }
        let mut joined = Vec::with_capacity(d.len() + o.len());
        joined.extend_from_slice(d);
        joined.extend_from_slice(o);
        self.url(&self.sets[k], &joined, buf)
    }

    /// A borrowed reference to `d[key]`, null when absent; Err on a lookup error (the exception
    /// is set).
    ///
    /// # Safety
    /// The GIL is held and `d` is a live dict; the reference is used while `d` still holds it.
    #[inline]
    unsafe fn get(d: *mut ffi::PyObject, key: &Py<PyString>) -> Result<*mut ffi::PyObject, ()> {
        let v = ffi::PyDict_GetItemWithError(d, key.as_ptr());
        if v.is_null() && !ffi::PyErr_Occurred().is_null() {
            return Err(());
        }
        Ok(v)
    }

    /// One chunk of events, level by level (the events, their objects, the nested objects, the
    /// values, the list items), each level's memory prefetched before it is read: the walk is
    /// bound by cache misses on object headers, scattered over the heap.
    ///
    /// # Safety
    /// The GIL is held for the whole call and `evs` are live objects that stay alive meanwhile
    /// (the caller's sequence holds them). Only exact dicts, lists and strs are read, and the
    /// only calls are dict lookups by exact interned str keys, which run no Python code unless
    /// the dict holds a key of a str subclass with its own `__eq__` (no parser makes one); so
    /// the borrowed references found on the way stay valid until they are used.
    unsafe fn scan_chunk<'s>(&'s self, first: isize, evs: &[*mut ffi::PyObject], work: &mut Work<'s>,
                             found: &mut Found, buf: &mut Vec<u8>) -> Result<(), ()> {
        for &ev in evs {
            prefetch(ev);
        }
        work.tops.clear();
        for (k, &ev) in evs.iter().enumerate() {
            let pos = first + k as isize;
            if ffi::PyDict_CheckExact(ev) == 0 {
                work.tops.push((pos, usize::MAX, ev));
                continue;
            }
            for (ti, top) in self.tops.iter().enumerate() {
                let t = Self::get(ev, &top.key)?;
                if !t.is_null() {
                    work.tops.push((pos, ti, t));
                }
            }
        }
        for &(_, ti, t) in &work.tops {
            if ti != usize::MAX {
                prefetch(t);
            }
        }
        work.items.clear();
        let mut nested = false;
        for &(pos, ti, t) in &work.tops {
            if ti == usize::MAX {
                work.items.push(Item::Fallback(pos));
                continue;
            }
            if ffi::PyDict_CheckExact(t) == 0 {
                continue;
            }
            let top = &self.tops[ti];
            for e in &top.entries {
                let x = Self::get(t, &e.key)?;
                if x.is_null() {
                    continue;
                }
                if e.key2.is_some() {
                    nested = true;
                    work.items.push(Item::Nested(pos, e, x));
                } else {
                    work.items.push(Item::Value(pos, e, x));
                }
            }
            if let Some((dkey, okey)) = &top.join {
                work.items.push(Item::Join(pos, t, dkey, okey));
            }
        }
        if nested {
            for it in &work.items {
                if let Item::Nested(_, _, d) = *it {
                    prefetch(d);
                }
            }
            for it in work.items.iter_mut() {
                if let Item::Nested(pos, e, d) = *it {
                    *it = Item::Skip;
                    if ffi::PyDict_CheckExact(d) != 0 {
                        if let Some(key2) = &e.key2 {
                            let x = Self::get(d, key2)?;
                            if !x.is_null() {
                                *it = Item::Value(pos, e, x);
                            }
                        }
                    }
                }
            }
        }
        for it in &work.items {
            if let Item::Value(_, _, x) = *it {
                prefetch(x);
                prefetch(x.cast::<u8>().wrapping_add(64).cast());
            }
        }
        let mut lists = false;
        for it in &work.items {
            if let Item::Value(_, _, x) = *it {
                if ffi::PyList_CheckExact(x) != 0 {
                    lists = true;
                }
            }
        }
        if lists {
            for it in &work.items {
                if let Item::Value(_, _, x) = *it {
                    if ffi::PyList_CheckExact(x) != 0 {
                        for i in 0..ffi::PyList_GET_SIZE(x) {
                            let item = ffi::PyList_GET_ITEM(x, i);
                            prefetch(item);
                            prefetch(item.cast::<u8>().wrapping_add(64).cast());
                        }
                    }
                }
            }
        }
        for it in &work.items {
            match *it {
                Item::Value(pos, e, x) => {
                    if ffi::PyUnicode_CheckExact(x) != 0 {
                        if self.maybe(e.mode, x, buf) {
                            found.push(pos, e.field, x);
                        }
                    } else if ffi::PyList_CheckExact(x) != 0 {
                        let mut i = 0;
                        while i < ffi::PyList_GET_SIZE(x) {
                            let item = ffi::PyList_GET_ITEM(x, i);
                            if ffi::PyUnicode_CheckExact(item) != 0 && self.maybe(e.mode, item, buf) {
                                found.push(pos, e.field, item);
                            }
                            i += 1;
                        }
                    }
                }
                Item::Join(pos, t, dkey, okey) => {
                    let original = Self::get(t, okey)?;
                    let domain = Self::get(t, dkey)?;
                    if self.maybe_join(domain, original, buf) {
                        found.push(pos, self.join_field, ffi::Py_None());
                    }
                }
                Item::Fallback(pos) => found.push(pos, -1, ffi::Py_None()),
                Item::Nested(..) | Item::Skip => {}
            }
        }
        Ok(())
    }
}

/// Events per chunk of the walk: enough misses in flight, the chunk's objects still in cache.
const CHUNK: usize = 32;

/// What a chunk's walk passes from one level to the next.
#[derive(Clone, Copy)]
enum Item<'s> {
    Value(isize, &'s Entry, *mut ffi::PyObject),
    Nested(isize, &'s Entry, *mut ffi::PyObject),
    Join(isize, *mut ffi::PyObject, &'s Py<PyString>, &'s Py<PyString>),
    Fallback(isize),
    Skip,
}

#[derive(Default)]
struct Work<'s> {
    tops: Vec<(isize, usize, *mut ffi::PyObject)>,
    items: Vec<Item<'s>>,
}

#[inline(always)]
fn prefetch(p: *mut ffi::PyObject) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[pymethods]
impl IndicatorFilter {
    /// `fields`: the detector's table, `(top, ((key, key2 or None, path, kind), ...))` in scan
    /// order (field indexes count its entries in that order); `keys_by_kind`: kind -> iterable
    /// of the index's keys (`ip`, `domain`, `url`, `hash`, `email`, `ja3`, `ja3s`); `nets4`,
    /// `nets6`: `(starts, ends)` of the index's interval tables; `join`: `(top, domain key,
    /// original key)` of the url join, reported with field index `len(entries)`.
    #[new]
    #[pyo3(signature = (fields, keys_by_kind, nets4, nets6, join = None))]
    fn new(
        py: Python<'_>,
        fields: Vec<(String, Vec<FieldSpec>)>,
        keys_by_kind: &Bound<'_, PyDict>,
        nets4: (Vec<u32>, Vec<u32>),
        nets6: (Vec<u128>, Vec<u128>),
        join: Option<(String, String, String)>,
    ) -> PyResult<Self> {
        let mut filter = IndicatorFilter {
            tops: Vec::new(),
            v4: Set::default(),
            v6: Set::default(),
            nets4: Nets::new(nets4.0, nets4.1)?,
            nets6: Nets::new(nets6.0, nets6.1)?,
            sets: Vec::new(),
            url_hosts: Set::default(),
            url_set: None,
            join_field: 0,
        };
        let mut kinds: Vec<String> = Vec::new();
        let mut set_of = |kind: &str, filter: &mut IndicatorFilter| -> PyResult<usize> {
            if let Some(i) = kinds.iter().position(|k| k == kind) {
                return Ok(i);
            }
            let mut set = Set::default();
            if let Some(keys) = keys_by_kind.get_item(kind)? {
                let keys = keys.try_iter()?;
                let (lower, _) = keys.size_hint();
                set.reserve(lower);
                for key in keys {
                    let key = key?;
                    let Ok(text) = key.cast::<PyString>() else { continue };
                    let Ok(text) = text.to_str() else { continue }; // lone surrogates: never equal to ASCII
                    set.insert(hash_bytes(text.as_bytes()));
                    if kind == "url" {
                        let host = text.split('/').next().unwrap_or("");
                        filter.url_hosts.insert(hash_bytes(host.as_bytes()));
                    }
                }
            }
            filter.sets.push(set);
            kinds.push(kind.to_owned());
            Ok(filter.sets.len() - 1)
        };
        if let Some(keys) = keys_by_kind.get_item("ip")? {
            for key in keys.try_iter()? {
                let key = key?;
                let Ok(text) = key.cast::<PyString>() else { continue };
                let Ok(text) = text.to_str() else { continue };
                match parse_ip(text.as_bytes()) {
                    Some(Addr::V4(a)) => filter.v4.insert(a),
                    Some(Addr::V6(a)) => filter.v6.insert(a),
                    None => false, // never the canonical text of an address
                };
            }
        }
        let url_set = set_of("url", &mut filter)?;
        filter.url_set = if filter.sets[url_set].is_empty() { None } else { Some(url_set) };
        let ip_empty = filter.v4.is_empty() && filter.v6.is_empty() && filter.nets4.is_empty() && filter.nets6.is_empty();
        let mut field = 0isize;
        for (top, entries) in fields {
            let mut out = Vec::new();
            for (key, key2, _path, kind) in entries {
                let mode = match kind.as_str() {
                    "ip" => Mode::Ip,
                    "domain" => Mode::Domain(set_of("domain", &mut filter)?),
                    "url" => Mode::Url(url_set),
                    "hash" => Mode::ExactOrLower(set_of("hash", &mut filter)?),
                    "email" | "ja3" | "ja3s" => Mode::Lower(set_of(&kind, &mut filter)?),
                    _ => Mode::Any,
                };
                let idle = match mode {
                    Mode::Ip => ip_empty,
                    Mode::Domain(k) | Mode::Url(k) | Mode::ExactOrLower(k) | Mode::Lower(k) => filter.sets[k].is_empty(),
                    Mode::Any => false,
                };
                if !idle { // an empty table never matches: the field is not even read
                    out.push(Entry {
                        field,
                        key: PyString::intern(py, &key).unbind(),
                        key2: key2.map(|k| PyString::intern(py, &k).unbind()),
                        mode,
                    });
                }
                field += 1;
            }
            let join = match &join {
                Some((jtop, dkey, okey)) if *jtop == top && filter.url_set.is_some() => {
                    Some((PyString::intern(py, dkey).unbind(), PyString::intern(py, okey).unbind()))
                }
                _ => None,
            };
            if !out.is_empty() || join.is_some() {
                filter.tops.push(Top { key: PyString::intern(py, &top).unbind(), entries: out, join });
            }
        }
        filter.join_field = field;
        Ok(filter)
    }

    /// `[(position, field index, value)]` of the values that might be indicators, in scan order
    /// (events, then fields, list items, the url join after its object's fields). The join
    /// comes with field index `len(entries)` and None; an event that is not a dict with -1 and None.
    fn scan(&self, py: Python<'_>, events: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        // SAFETY: the GIL is held (py) for the whole walk; borrowed references from the dicts
        // are used before any Python code could run (only dict lookups run, as `dict.get` would),
        // and every value kept is an owned reference (Found).
        unsafe {
            let seq = ffi::PySequence_Fast(events.as_ptr(), c"scan() needs a sequence of events".as_ptr());
            let seq = Bound::from_owned_ptr_or_err(py, seq)?;
            let n = ffi::PySequence_Fast_GET_SIZE(seq.as_ptr());
            let items = ffi::PySequence_Fast_ITEMS(seq.as_ptr());
            let mut found = Found(Vec::new());
            let mut buf = Vec::with_capacity(256);
            let mut work = Work::default();
            let events = std::slice::from_raw_parts(items, n as usize);
            for (i, chunk) in events.chunks(CHUNK).enumerate() {
                if self.scan_chunk((i * CHUNK) as isize, chunk, &mut work, &mut found, &mut buf).is_err() {
                    return Err(PyErr::fetch(py));
                }
            }
            let list = ffi::PyList_New(found.0.len() as ffi::Py_ssize_t);
            let list = Bound::from_owned_ptr_or_err(py, list)?;
            for (i, (pos, field, obj)) in found.0.drain(..).enumerate() {
                let tuple = ffi::PyTuple_New(3);
                let p = ffi::PyLong_FromSsize_t(pos);
                let f = ffi::PyLong_FromSsize_t(field);
                if tuple.is_null() || p.is_null() || f.is_null() {
                    for o in [tuple, p, f, obj] {
                        if !o.is_null() {
                            ffi::Py_DECREF(o);
                        }
                    }
                    return Err(PyErr::fetch(py));
                }
                ffi::PyTuple_SET_ITEM(tuple, 0, p);
                ffi::PyTuple_SET_ITEM(tuple, 1, f);
                ffi::PyTuple_SET_ITEM(tuple, 2, obj);
                ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, tuple);
            }
            Ok(list.unbind())
        }
    }

    /// The field index of the url join (the number of entries in `fields`).
    #[getter]
    fn join_field(&self) -> isize {
        self.join_field
    }

    /// Approximate heap bytes of the tables (hash sets at capacity, intervals).
    fn nbytes(&self) -> usize {
        set_nbytes(&self.v4) + set_nbytes(&self.v6) + set_nbytes(&self.url_hosts)
            + self.sets.iter().map(set_nbytes).sum::<usize>() + self.nets4.nbytes() + self.nets6.nbytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse4(b"1.2.3.4"), Some(0x0102_0304));
        assert_eq!(parse4(b"01.2.3.4"), None);
        assert_eq!(parse4(b"1.2.3"), None);
        assert_eq!(parse6(b"::ffff:1.2.3.4"), Some(0xffff_0102_0304));
        assert_eq!(parse6(b"1::"), Some(1u128 << 112));
        assert_eq!(parse6(b"1:"), None);
        assert_eq!(parse6(b":1::"), None);
        assert_eq!(parse6(b"::00001"), None);
        assert!(matches!(parse_ip(b"fe80::1%eth0"), Some(Addr::V6(_))));
        assert!(matches!(parse_ip(b"::ffff:10.0.0.1"), Some(Addr::V4(0x0a00_0001))));
    }
}
