//! A JSON reader for the fast path: one line to a `V` tree in the arena, strings borrowed from the
//! line unless they hold escapes. It reads what `orjson.loads` reads the same way, and refuses
//! (None: the Python parser then takes the line) everything else or anything it is not sure of:
//! duplicate keys, lone surrogates, integers beyond 64 bits, integral floats beyond 2**53, "-0",
//! non-finite numbers, nesting deeper than `DEPTH_MAX`.

use crate::arena::{alloc_str, AVec, Arena};
use crate::value::{has_duplicates, Key, Map, V};

const DEPTH_MAX: usize = 128;

/// The value of one JSON text, or None.
pub fn parse(line: &str) -> Option<V<'_>> {
    let mut r = Reader { s: line, b: line.as_bytes(), i: 0, depth: 0 };
    r.ws();
    let value = r.value()?;
    r.ws();
    (r.i == r.b.len()).then_some(value)
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of the first zero byte of `v` is set (bits above it may be set wrongly).
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The position of the first byte at or after `i` that ends a plain run of string text: a
/// quote, a backslash or a control character; `b.len()` if none.
#[inline]
fn plain_run(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86_64; each load reads 16 bytes inside `b`
        unsafe {
            let (quote, backslash, control) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8), _mm_set1_epi8(0x1f));
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                // a control byte: max(x, 0x1f) == 0x1f exactly when x <= 0x1f (unsigned)
                let stops = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                    _mm_cmpeq_epi8(_mm_max_epu8(x, control), control),
                );
                let mask = _mm_movemask_epi8(stops) as u32;
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    while i + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[i..i + 8]);
        let w = u64::from_le_bytes(word);
        let stops = zero_bytes(w ^ (ONES * u64::from(b'"')))
            | zero_bytes(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if stops != 0 {
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    b[..4].iter().try_fold(0u32, |n, &c| Some(n << 4 | (c as char).to_digit(16)?))
}

impl<'a> Reader<'a> {
    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self) -> Option<V<'a>> {
        match self.peek()? {
            b'"' => self.string().map(V::Str),
            b'{' => self.object(),
            b'[' => self.array(),
            b't' => self.literal(b"true", V::Bool(true)),
            b'f' => self.literal(b"false", V::Bool(false)),
            b'n' => self.literal(b"null", V::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], value: V<'a>) -> Option<V<'a>> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(value)
        } else {
            None
        }
    }

    /// A string at the opening quote: borrowed from the line when it has no escape.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.i + 1;
        let end = plain_run(self.b, start);
        match self.b.get(end)? {
            b'"' => {
                self.i = end + 1;
                Some(&self.s[start..end])
            }
            b'\\' => self.escaped(start, end),
            _ => None, // a control character: not JSON
        }
    }

    /// The rest of a string with escapes, decoded into the arena.
    fn escaped(&mut self, start: usize, first: usize) -> Option<&'a str> {
        let mut out = String::with_capacity(first - start + 16);
        out.push_str(&self.s[start..first]);
        let mut i = first;
        loop {
            match *self.b.get(i)? {
                b'"' => break,
                b'\\' => {
                    let c = match *self.b.get(i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = hex4(self.b.get(i + 2..)?)?;
                            i += 4;
                            if (0xD800..0xDC00).contains(&unit) {
                                // a high surrogate: only with the low one after it
                                if self.b.get(i + 2..i + 4)? != b"\\u" {
                                    return None;
                                }
                                let low = hex4(self.b.get(i + 4..)?)?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return None;
                                }
                                i += 6;
                                char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?
                            } else {
                                char::from_u32(unit)? // a lone low surrogate is no char: refused
                            }
                        }
                        _ => return None,
                    };
                    out.push(c);
                    i += 2;
                }
                _ => {
                    let end = plain_run(self.b, i);
                    if end == i {
                        return None; // a control character
                    }
                    out.push_str(&self.s[i..end]);
                    i = end;
                }
            }
        }
        self.i = i + 1;
        // SAFETY: the tree lives inside one arena scope (arena.rs)
        Some(unsafe { alloc_str(&out) })
    }

    fn number(&mut self) -> Option<V<'a>> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let negative = b[i] == b'-';
        if negative {
            i += 1;
        }
        // the magnitude of the integer part, None once beyond 64 bits
        let mut magnitude: Option<u64> = Some(0);
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                while i < b.len() && b[i].is_ascii_digit() {
                    magnitude = magnitude.and_then(|m| m.checked_mul(10)?.checked_add(u64::from(b[i] - b'0')));
                    i += 1;
                }
            }
            _ => return None,
        }
        let mut integral = true;
        if b.get(i) == Some(&b'.') {
            integral = false;
            i = digit_run(b, i + 1)?;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integral = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = digit_run(b, i)?;
        }
        self.i = i;
        if integral {
            // "-0" is the int 0 for orjson: left to it, as are integers beyond 64 bits
            let m = magnitude?;
            return if !negative {
                Some(i64::try_from(m).map_or(V::UInt(m), V::Int))
            } else if m == 0 {
                None
            } else {
                Some(V::Int(0i64.checked_sub_unsigned(m)?))
            };
        }
        let text = &self.s[start..i];
        let f: f64 = text.parse().ok()?;
        // keep to the floats orjson reads alike: finite, no signed zero, not integral beyond 2**53
        if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) || (f.fract() == 0.0 && f.abs() >= 9_007_199_254_740_992.0) {
            return None;
        }
        Some(V::Float(f))
    }

    /// The members of an array or object at its opening bracket, each read by `member`, up to
    /// `close`: separators, whitespace and the nesting limit.
    #[inline(always)]
    fn members(&mut self, close: u8, mut member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.depth += 1;
        if self.depth > DEPTH_MAX {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == close {
            self.i += 1;
        } else {
            loop {
                member(self)?;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                    }
                    c if c == close => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<V<'a>> {
        let mut items = AVec::with_capacity_in(4, Arena);
        self.members(b']', |r| {
            items.push(r.value()?);
            Some(())
        })?;
        Some(V::Arr(items))
    }

    fn object(&mut self) -> Option<V<'a>> {
        let mut pairs = AVec::with_capacity_in(8, Arena);
        self.members(b'}', |r| {
            if r.peek()? != b'"' {
                return None;
            }
            let key = r.string()?;
            r.ws();
            if r.peek()? != b':' {
                return None;
            }
            r.i += 1;
            r.ws();
            pairs.push((Key::Text(key), r.value()?));
            Some(())
        })?;
        if has_duplicates(&pairs) {
            return None;
        }
        Some(V::Obj(Map(pairs)))
    }
}

/// The end of the run of digits starting at `i`; None when there is none (JSON wants one).
fn digit_run(b: &[u8], mut i: usize) -> Option<usize> {
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    (i > start).then_some(i)
}
