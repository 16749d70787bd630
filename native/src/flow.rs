//! What `ingest/parsers/_flow.py` computes, for the inputs this fast path accepts: UTC
//! timestamps of ISO 8601 strings (`utc_iso`) and the Community ID v1 of a flow. Anything these
//! strict readers do not know for sure is `Decline`: the Python parser then takes the line.

use base64::Engine;
use sha1::{Digest, Sha1};

/// "Not on the fast path": the Python parser handles the line (and raises ParseError if bad).
#[derive(Debug)]
pub struct Decline;

pub type R<T> = Result<T, Decline>;

fn digits(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

fn num(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0'))
}

fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_days(year: i64, month: i64) -> i64 {
    match month {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Minutes east of UTC of a zone suffix: "", "Z", "+HHMM" or "+HH:MM" (strictly).
fn offset_minutes(zone: &[u8]) -> R<i64> {
    let (hh, mm) = match zone.len() {
        0 | 1 => return Ok(0),
        5 => (&zone[1..3], &zone[3..5]),
        6 if zone[3] == b':' => (&zone[1..3], &zone[4..6]),
        _ => return Err(Decline),
    };
    if !digits(hh) || !digits(mm) || num(hh) > 23 || num(mm) > 59 {
        return Err(Decline);
    }
    let minutes = i64::from(num(hh) * 60 + num(mm));
    Ok(if zone[0] == b'-' { -minutes } else { minutes })
}

/// `_flow.utc_iso`: `@timestamp` (UTC, milliseconds, `Z`) of `YYYY-MM-DDTHH:MM:SS.fff...`
/// with an optional `Z`, `+HHMM` or `+HH:MM` zone (at least 3 fraction digits), the format the
/// Python helper converts itself; anything else (left to `datetime.fromisoformat`) is declined.
pub fn utc_iso(text: &str) -> R<Ts> {
    let b = text.as_bytes();
    let n = b.len();
    if !text.is_ascii() {
        return Err(Decline);
    }
    let zone_len = if b.last() == Some(&b'Z') {
        1
    } else if n > 25 && matches!(b[n - 5], b'+' | b'-') {
        5
    } else if n > 26 && matches!(b[n - 6], b'+' | b'-') {
        6
    } else {
        0
    };
    if n < 23 + zone_len {
        return Err(Decline);
    }
    let frac = &b[20..n - zone_len];
    let secs = &b[17..19];
    if b[19] != b'.' || b[16] != b':' || !digits(frac) || !digits(secs) || secs >= b"60".as_slice() {
        return Err(Decline);
    }
    // the minute, "YYYY-MM-DDTHH:MM", as datetime.fromisoformat reads it, converted to UTC
    let p = &b[..16];
    if p[4] != b'-' || p[7] != b'-' || p[10] != b'T' || p[13] != b':' {
        return Err(Decline);
    }
    let fields: [&[u8]; 5] = [&p[0..4], &p[5..7], &p[8..10], &p[11..13], &p[14..16]];
    if !fields.iter().all(|f| digits(f)) {
        return Err(Decline);
    }
    let (year, month, day) = (i64::from(num(fields[0])), i64::from(num(fields[1])), i64::from(num(fields[2])));
    let (hour, minute) = (i64::from(num(fields[3])), i64::from(num(fields[4])));
    // years near the ends of datetime's range overflow in astimezone(): leave them to Python
    if !(1001..=9998).contains(&year) || !(1..=12).contains(&month) || day < 1 || day > month_days(year, month)
        || hour > 23 || minute > 59
    {
        return Err(Decline);
    }
    let offset = offset_minutes(&b[n - zone_len..])?;
    let total = (days_from_civil(year, month, day) * 24 + hour) * 60 + minute - offset;
    let (days, rest) = (total.div_euclid(1440), total.rem_euclid(1440));
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err(Decline);
    }
    // "YYYY-MM-DDTHH:MM" of the UTC minute, then ":SS." and the milliseconds as written
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let digit = |v: i64| b'0' + (v % 10) as u8;
    (out[0], out[1], out[2], out[3]) = (digit(y / 1000), digit(y / 100), digit(y / 10), digit(y));
    (out[5], out[6], out[8], out[9]) = (digit(m / 10), digit(m), digit(d / 10), digit(d));
    let (hh, mm) = (rest / 60, rest % 60);
    (out[11], out[12], out[14], out[15]) = (digit(hh / 10), digit(hh), digit(mm / 10), digit(mm));
    out[16..23].copy_from_slice(&b[16..23]);
    Ok(Ts(out))
}

/// A `@timestamp` as `utc_iso` writes it: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
#[derive(Clone, Copy, Debug)]
pub struct Ts([u8; 24]);

impl Ts {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default() // ASCII digits and separators only
    }
}

/// IANA protocol number of a transport name (`_flow.PROTO_NUMBERS`).
pub fn proto_number(transport: &str) -> Option<u8> {
    Some(match transport {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "ipv6-icmp" | "icmpv6" | "icmp6" => 58,
        "sctp" => 132,
        _ => return None,
    })
}

/// The address bytes `socket.inet_pton` gives, for the strict textual forms read here (dotted
/// quad without leading zeros; IPv6 hex groups with at most one `::`, no embedded IPv4);
/// anything else is declined, since inet_pton may still accept it.
pub fn ip_bytes(text: &str) -> R<Addr> {
    if text.as_bytes().contains(&b':') {
        let v6 = ipv6(text).ok_or(Decline)?;
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&v6);
        Ok(Addr { bytes, len: 16 })
    } else {
        ipv4(text).ok_or(Decline)
    }
}

/// The bytes of an address: 4 (IPv4) or 16 (IPv6).
pub struct Addr {
    bytes: [u8; 16],
    len: usize,
}

impl std::ops::Deref for Addr {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A dotted quad: four parts of 1 to 3 digits, no leading zero, each at most 255.
fn ipv4(text: &str) -> Option<Addr> {
    let mut bytes = [0u8; 16];
    let (mut part, mut value, mut width) = (0usize, 0u32, 0usize);
    for &c in text.as_bytes() {
        if c == b'.' {
            if width == 0 || part == 3 {
                return None;
            }
            bytes[part] = u8::try_from(value).ok()?;
            (part, value, width) = (part + 1, 0, 0);
        } else if c.is_ascii_digit() && width < 3 && !(width == 1 && value == 0) {
            (value, width) = (value * 10 + u32::from(c - b'0'), width + 1);
        } else {
            return None;
        }
    }
    if width == 0 || part != 3 {
        return None;
    }
    bytes[3] = u8::try_from(value).ok()?;
    Some(Addr { bytes, len: 4 })
}

fn groups(text: &str) -> Option<Vec<u16>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(':')
        .map(|g| {
            if g.is_empty() || g.len() > 4 || !g.bytes().all(|c| c.is_ascii_hexdigit()) {
                None
            } else {
                u16::from_str_radix(g, 16).ok()
            }
        })
        .collect()
}

fn ipv6(text: &str) -> Option<Vec<u8>> {
    let words = match text.split_once("::") {
        None => {
            let all = groups(text)?;
            (all.len() == 8).then_some(all)?
        }
        Some((head, tail)) => {
            let (head, tail) = (groups(head)?, groups(tail)?);
            if head.len() + tail.len() > 7 {
                return None;
            }
            let mut all = head;
            all.resize(8 - tail.len(), 0);
            all.extend(tail);
            all
        }
    };
    Some(words.iter().flat_map(|w| w.to_be_bytes()).collect())
}

const ICMP4_PAIRS: [(i64, i64); 10] = [(8, 0), (0, 8), (13, 14), (14, 13), (15, 16), (16, 15), (10, 9), (9, 10), (17, 18), (18, 17)];
const ICMP6_PAIRS: [(i64, i64); 12] = [
    (128, 129), (129, 128), (130, 131), (131, 130), (133, 134), (134, 133), (135, 136), (136, 135), (139, 140),
    (140, 139), (144, 145), (145, 144),
];

/// `_flow.community_id` for string addresses and int ports/ICMP type and code (the caller
/// checks the types): None when the tuple is not a flow, as in Python.
pub fn community_id(proto: u8, saddr: &str, daddr: &str, sport: i128, dport: i128) -> R<Option<CommunityId>> {
    if !(0..65536).contains(&sport) || !(0..65536).contains(&dport) {
        return Ok(None);
    }
    let (src, dst) = (ip_bytes(saddr)?, ip_bytes(daddr)?);
    if src.len() != dst.len() {
        return Ok(None);
    }
    let (sport, mut dport) = (sport as i64, dport as i64);
    if proto == 1 || proto == 58 {
        let pairs: &[(i64, i64)] = if proto == 1 { &ICMP4_PAIRS } else { &ICMP6_PAIRS };
        match pairs.iter().find(|(t, _)| *t == sport) {
            Some((_, other)) => dport = *other,
            None => return Ok(Some(render(&src, &dst, proto, sport, dport))),
        }
    }
    let (src, dst) = (&*src, &*dst);
    if src > dst || (src == dst && sport > dport) {
        return Ok(Some(render(dst, src, proto, dport, sport)));
    }
    Ok(Some(render(src, dst, proto, sport, dport)))
}

/// A Community ID v1: `1:` and the base64 of a SHA-1 (30 bytes, ASCII).
pub struct CommunityId([u8; 30]);

impl CommunityId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default() // "1:" and base64: ASCII
    }
}

fn render(src: &[u8], dst: &[u8], proto: u8, sport: i64, dport: i64) -> CommunityId {
    let mut h = Sha1::new();
    h.update([0u8, 0u8]);
    h.update(src);
    h.update(dst);
    h.update([proto, 0u8]);
    h.update((sport as u16).to_be_bytes());
    h.update((dport as u16).to_be_bytes());
    let mut out = *b"1:0000000000000000000000000000";
    let written = base64::engine::general_purpose::STANDARD.encode_slice(h.finalize(), &mut out[2..]);
    debug_assert_eq!(written, Ok(28));
    CommunityId(out)
}
