//! A JSON value that borrows its strings from the input line (no copy unless escaped), with
//! objects as ordered lists of pairs, as Python dicts keep them. `parse` reads a line with
//! serde_json and refuses what `orjson.loads` might read differently (duplicate keys...), so such
//! lines leave the fast path.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::arena::{alloc_str, AVec, Arena};

/// Marks a value given by the caller (a Python object passed through, never copied).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ext {
    Line,
    Ingested,
    Source,
    Dataset,
    Module,
    EcsVersion,
    Parser,
}

#[derive(Clone, Debug, PartialEq)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Text borrowed from the line, or copied into the arena (escaped or made by the parser).
    Str(&'a str),
    /// A literal of the parser ("network", "tcp"...): made once as an interned Python str.
    Lit(&'static str),
    Arr(AVec<V<'a>>),
    Obj(Map<'a>),
    Ext(Ext),
    /// A removed pair of a `Map` (removal leaves this mark instead of moving the pairs after it);
    /// skipped by lookups and never built.
    Gone,
}

/// Key equality: the same literal (same address) at once, else the length and first byte are
/// checked before the bytes are compared.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || (a.as_bytes().first() == b.as_bytes().first() && a == b))
}

/// An object key: a literal of the parser (its Python str is found by address, never hashed) or
/// text of the line.
#[derive(Clone, Debug)]
pub enum Key<'a> {
    Static(&'static str),
    Text(&'a str),
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::ops::Deref for Key<'_> {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Text(t) => t,
        }
    }
}

/// An object: pairs in insertion order; keys are unique (checked when parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct Map<'a>(pub AVec<(Key<'a>, V<'a>)>);

impl<'a> Map<'a> {
    pub fn new() -> Self {
        // room for the usual handful of fields: growing copies the pairs (arena memory is cheap)
        Map(AVec::with_capacity_in(6, Arena))
    }

    pub fn with_capacity(n: usize) -> Self {
        Map(AVec::with_capacity_in(n, Arena))
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, v)| matches!(v, V::Gone))
    }

    /// The pairs still there, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&Key<'a>, &V<'a>)> {
        self.0.iter().filter(|(_, v)| !matches!(v, V::Gone)).map(|(k, v)| (k, v))
    }

    #[inline]
    fn index(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, v)| same(k, key) && !matches!(v, V::Gone))
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&V<'a>> {
        self.index(key).map(|i| &self.0[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V<'a>> {
        self.index(key).map(|i| &mut self.0[i].1)
    }

    /// Take the value of pair `i` out, leaving the removal mark.
    fn take(&mut self, i: usize) -> V<'a> {
        std::mem::replace(&mut self.0[i].1, V::Gone)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index(key).is_some()
    }

    /// `dict.pop(key, None)`: JSON null and absent are both None.
    pub fn pop(&mut self, key: &str) -> Option<V<'a>> {
        match self.index(key) {
            Some(i) => match self.take(i) {
                V::Null => None,
                v => Some(v),
            },
            None => None,
        }
    }

    /// `dict.pop(key)` of a key that may hold null: the value as it is.
    pub fn remove(&mut self, key: &str) -> Option<V<'a>> {
        self.index(key).map(|i| self.take(i))
    }

    /// Remove a key (its value is known to be there, or absent is fine).
    pub fn del(&mut self, key: &str) {
        if let Some(i) = self.index(key) {
            self.take(i);
        }
    }

    /// `d[key] = value`: replaces in place, else appends.
    pub fn set(&mut self, key: &'static str, value: V<'a>) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.0.push((Key::Static(key), value)),
        }
    }

    /// Append a key known to be absent.
    #[inline]
    pub fn push(&mut self, key: &'static str, value: V<'a>) {
        self.0.push((Key::Static(key), value));
    }

    /// Append an object under a key known to be absent, unless it has no pairs (the Python
    /// parser's `if x: d[key] = x`).
    pub fn push_map(&mut self, key: &'static str, map: Map<'a>) {
        if !map.is_empty() {
            self.push(key, V::Obj(map));
        }
    }

    /// The object at `key`, created when absent (the Python parser's `_sub`).
    pub fn sub(&mut self, key: &'static str) -> &mut Map<'a> {
        let i = match self.index(key) {
            Some(i) => i,
            None => {
                self.0.push((Key::Static(key), V::Obj(Map::new())));
                self.0.len() - 1
            }
        };
        match &mut self.0[i].1 {
            V::Obj(m) => m,
            slot => {
                *slot = V::Obj(Map::new());
                match slot {
                    V::Obj(m) => m,
                    _ => unreachable!(),
                }
            }
        }
    }
}

impl<'a> V<'a> {
    /// A copy of `text` in the arena.
    pub fn copy(text: &str) -> Self {
        // SAFETY: the tree lives inside one arena scope (arena.rs)
        V::Str(unsafe { alloc_str(text) })
    }

    pub fn owned(text: String) -> Self {
        // SAFETY: the tree lives inside one arena scope (arena.rs)
        V::Str(unsafe { alloc_str(&text) })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s),
            V::Lit(s) => Some(s),
            _ => None,
        }
    }

    /// `type(v) is int`
    pub fn is_int(&self) -> bool {
        matches!(self, V::Int(_) | V::UInt(_))
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            V::Null => false,
            V::Bool(b) => *b,
            V::Int(i) => *i != 0,
            V::UInt(u) => *u != 0,
            V::Float(f) => *f != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Lit(s) => !s.is_empty(),
            V::Arr(a) => !a.is_empty(),
            V::Obj(m) => !m.is_empty(),
            V::Ext(_) => true,
            V::Gone => false,
        }
    }

    /// An int as Python would hold it (i64 when it fits).
    pub fn int(value: i128) -> Option<Self> {
        if let Ok(i) = i64::try_from(value) {
            Some(V::Int(i))
        } else {
            u64::try_from(value).ok().map(V::UInt)
        }
    }

    pub fn as_i128(&self) -> Option<i128> {
        match self {
            V::Int(i) => Some(i128::from(*i)),
            V::UInt(u) => Some(i128::from(*u)),
            _ => None,
        }
    }
}

/// The value of one JSON text (read by serde_json), or None for anything the fast path leaves to
/// orjson: bad JSON, duplicate keys, lone surrogates, integers beyond 64 bits, integral floats
/// beyond 2**53, "-0", nesting deeper than serde_json's limit (128). Must run inside an arena
/// `scope` (the tree's vectors and unescaped strings are in the arena).
pub fn parse(line: &str) -> Option<V<'_>> {
    let mut de = serde_json::Deserializer::from_str(line);
    let value = Seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// Reads one JSON value into a `V` (strings borrowed from the line when serde_json can lend them).
struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = V<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<V<'de>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = V<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<V<'de>, E> {
        Ok(V::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<V<'de>, E> {
        Ok(V::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<V<'de>, E> {
        Ok(V::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<V<'de>, E> {
        Ok(i64::try_from(u).map_or(V::UInt(u), V::Int))
    }

    /// serde_json gives "-0" and integers beyond 64 bits as floats: orjson does not (an int 0,
    /// an error or a big int), so those (integral beyond 2**53, or a signed zero) are refused,
    /// with non-finite values.
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<V<'de>, E> {
        if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) || (f.fract() == 0.0 && f.abs() >= 9_007_199_254_740_992.0) {
            return Err(E::custom("a number left to orjson"));
        }
        Ok(V::Float(f))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<V<'de>, E> {
        Ok(V::Str(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<V<'de>, E> {
        Ok(V::copy(s)) // a string with escapes, decoded by serde_json
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V<'de>, A::Error> {
        let mut items = AVec::with_capacity_in(seq.size_hint().unwrap_or(4), Arena);
        while let Some(item) = seq.next_element_seed(Seed)? {
            items.push(item);
        }
        Ok(V::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V<'de>, A::Error> {
        let mut pairs = AVec::with_capacity_in(map.size_hint().unwrap_or(8), Arena);
        while let Some(key) = map.next_key_seed(KeySeed)? {
            pairs.push((Key::Text(key), map.next_value_seed(Seed)?));
        }
        if has_duplicates(&pairs) {
            return Err(de::Error::custom("a duplicate key"));
        }
        Ok(V::Obj(Map(pairs)))
    }
}

/// Reads an object key: borrowed from the line, or decoded into the arena when it has escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = &'de str;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<&'de str, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = &'de str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<&'de str, E> {
        Ok(s)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<&'de str, E> {
        // SAFETY: `parse` runs inside an arena scope, and the tree the key goes into does too
        Ok(unsafe { alloc_str(s) })
    }
}

/// Whether an object repeats a key (orjson keeps the last value: such lines leave the fast path).
fn has_duplicates(pairs: &[(Key<'_>, V<'_>)]) -> bool {
    if pairs.len() <= 48 {
        // a 64-bit filter of (length, first, middle and last byte): only a key whose bit is
        // already set is compared with the keys before it
        let mut seen = 0u64;
        for (i, (k, _)) in pairs.iter().enumerate() {
            let b = k.as_bytes();
            let sig = (b.len() as u64) << 24
                | u64::from(b.first().copied().unwrap_or(0)) << 16
                | u64::from(b.get(b.len() / 2).copied().unwrap_or(0)) << 8
                | u64::from(b.last().copied().unwrap_or(0));
            let bit = 1u64 << (sig.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
            if seen & bit != 0 && pairs[..i].iter().any(|(p, _)| **p == **k) {
                return true;
            }
            seen |= bit;
        }
        return false;
    }
    let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| &**k).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}
