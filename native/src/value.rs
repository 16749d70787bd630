//! A JSON value that borrows its strings from the input line (no copy unless escaped), with
//! objects as ordered lists of pairs, as Python dicts keep them. Parsed by serde_json; the
//! deserializer refuses what `orjson.loads` might read differently (duplicate keys), so such
//! lines leave the fast path.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Marks a value given by the caller (a Python object passed through, never copied).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ext {
    Line,
    Ingested,
    Source,
    Dataset,
    Module,
    EcsVersion,
}

#[derive(Clone, Debug, PartialEq)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    /// A literal of the parser ("network", "tcp"...): made once as an interned Python str.
    Lit(&'static str),
    Arr(Vec<V<'a>>),
    Obj(Map<'a>),
    Ext(Ext),
}

/// Key equality, with the length and first byte checked before the bytes are compared.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// An object key: a literal of the parser (its Python str is found by address, never hashed) or
/// text of the line.
#[derive(Clone, Debug)]
pub enum Key<'a> {
    Static(&'static str),
    Text(Cow<'a, str>),
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map<'a>(pub Vec<(Key<'a>, V<'a>)>);

impl<'a> Map<'a> {
    pub fn new() -> Self {
        Map(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        Map(Vec::with_capacity(n))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| same(k, key))
    }

    pub fn get(&self, key: &str) -> Option<&V<'a>> {
        self.0.iter().find(|(k, _)| same(k, key)).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V<'a>> {
        self.0.iter_mut().find(|(k, _)| same(k, key)).map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index(key).is_some()
    }

    /// `dict.pop(key, None)`: JSON null and absent are both None.
    pub fn pop(&mut self, key: &str) -> Option<V<'a>> {
        match self.index(key) {
            Some(i) => match self.0.remove(i).1 {
                V::Null => None,
                v => Some(v),
            },
            None => None,
        }
    }

    /// `dict.pop(key)` of a key that may hold null: the value as it is.
    pub fn remove(&mut self, key: &str) -> Option<V<'a>> {
        self.index(key).map(|i| self.0.remove(i).1)
    }

    /// Remove a key (its value is known to be there, or absent is fine).
    pub fn del(&mut self, key: &str) {
        if let Some(i) = self.index(key) {
            self.0.remove(i);
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
    pub fn push(&mut self, key: &'static str, value: V<'a>) {
        self.0.push((Key::Static(key), value));
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
    pub fn owned(text: String) -> Self {
        V::Str(Cow::Owned(text))
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

/// Parse one JSON text; None when serde_json refuses it or when an object repeats a key.
pub fn parse(line: &str) -> Option<V<'_>> {
    let mut de = serde_json::Deserializer::from_str(line);
    let value = V::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = V<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<V<'de>, E> {
        Ok(V::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<V<'de>, E> {
        Ok(V::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<V<'de>, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => V::Int(i),
            Err(_) => V::UInt(v),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V<'de>, E> {
        // Integers beyond 64 bits come here too (orjson reads them as floats as well); keep to
        // the floats both read alike: finite, and not integral beyond 2**53.
        // serde_json reads "-0" as the float -0.0 where orjson reads the int 0: leave zeros with
        // a sign to the reference parser too.
        let negative_zero = v == 0.0 && v.is_sign_negative();
        if negative_zero || !v.is_finite() || (v.fract() == 0.0 && v.abs() >= 9_007_199_254_740_992.0) {
            return Err(E::custom("number left to the reference parser"));
        }
        Ok(V::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<V<'de>, E> {
        Ok(V::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<V<'de>, E> {
        Ok(V::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<V<'de>, E> {
        Ok(V::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<V<'de>, E> {
        Ok(V::Null)
    }

    fn visit_none<E>(self) -> Result<V<'de>, E> {
        Ok(V::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element::<V<'de>>()? {
            out.push(item);
        }
        Ok(V::Arr(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V<'de>, A::Error> {
        let mut out: Vec<(Key<'de>, V<'de>)> = Vec::with_capacity(8);
        while let Some(key) = map.next_key::<InKey<'de>>()? {
            let value = map.next_value::<V<'de>>()?;
            out.push((Key::Text(key.0), value));
        }
        if has_duplicates(&out) {
            return Err(de::Error::custom("duplicate key"));
        }
        Ok(V::Obj(Map(out)))
    }
}

fn has_duplicates(pairs: &[(Key<'_>, V<'_>)]) -> bool {
    if pairs.len() <= 32 {
        // compare cheap signatures (length, first and last byte) before the bytes
        let sig = |k: &str| {
            let b = k.as_bytes();
            (b.len() as u64) << 16 | u64::from(b.first().copied().unwrap_or(0)) << 8 | u64::from(b.last().copied().unwrap_or(0))
        };
        let mut sigs = [0u64; 32];
        for (i, (k, _)) in pairs.iter().enumerate() {
            let s = sig(k);
            for j in 0..i {
                if sigs[j] == s && pairs[j].0 == *k {
                    return true;
                }
            }
            sigs[i] = s;
        }
        return false;
    }
    let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| &**k).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

impl<'de> Deserialize<'de> for V<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// An object key, borrowed when it has no escape.
struct InKey<'a>(Cow<'a, str>);

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = InKey<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<InKey<'de>, E> {
        Ok(InKey(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<InKey<'de>, E> {
        Ok(InKey(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<InKey<'de>, E> {
        Ok(InKey(Cow::Owned(v)))
    }
}

impl<'de> Deserialize<'de> for InKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}
