//! `SuricataEveParser.parse` (ingest/parsers/suricata_eve.py), step by step, on the borrowed
//! JSON value: the same fields, the same leftovers under `suricata.eve`. Where the Python code
//! depends on something this port does not reproduce for sure (non-ASCII text it changes the
//! case of, timestamps it leaves to `datetime.fromisoformat`, sections whose order of mapping
//! matters), the line is declined and the Python parser takes it.

use crate::app::{anomaly, dns, fileinfo, tls};
use crate::arena::alloc_str;
use crate::arena::collect;
use crate::flow::{self, Decline, R};
use crate::value::{self, Map, V};

const NOT_PROTOCOLS: [&str; 4] = ["failed", "template", "template-rust", "unknown"];

type Kind = (&'static [&'static str], &'static [&'static str], Option<&'static str>);

/// event_type -> (event.category, event.type, network.protocol), as `_KINDS`.
fn kind(etype: &str) -> Kind {
    const NET: &[&str] = &["network"];
    const PROTO: &[&str] = &["protocol"];
    const WEB: &[&str] = &["network", "web"];
    const ACCESS: &[&str] = &["access", "protocol"];
    match etype {
        "alert" => (&["network", "intrusion_detection"], &[], None),
        "anomaly" => (NET, &["info"], None),
        "flow" | "netflow" => (NET, &["connection"], None),
        "dns" => (NET, PROTO, Some("dns")),
        "http" | "http2" => (WEB, ACCESS, Some("http")),
        "tls" => (NET, PROTO, Some("tls")),
        "fileinfo" => (&["network", "file"], &["info"], None),
        "ftp" | "ftp_data" => (NET, PROTO, Some("ftp")),
        "smtp" => (NET, PROTO, Some("smtp")),
        "ssh" => (NET, PROTO, Some("ssh")),
        "smb" => (NET, PROTO, Some("smb")),
        "krb5" => (NET, PROTO, Some("krb5")),
        "rdp" => (NET, PROTO, Some("rdp")),
        "dhcp" => (NET, PROTO, Some("dhcp")),
        "snmp" => (NET, PROTO, Some("snmp")),
        "quic" => (NET, PROTO, Some("quic")),
        _ => (NET, &[], None),
    }
}

/// Words that come back on most lines (event types, transports, protocols, alert actions): made
/// once as interned Python strs instead of a new str per line.
const WORDS: [&str; 24] = [
    "alert", "flow", "netflow", "dns", "http", "tls", "fileinfo", "anomaly", "stats", "drop", "tcp", "udp", "icmp",
    "ipv6-icmp", "sctp", "ftp", "smtp", "ssh", "smb", "krb5", "dhcp", "allowed", "denied", "http2",
];

/// `s` as a parser literal when it is one of `WORDS`, else as text.
pub(crate) fn word<'a>(s: &str, or: impl FnOnce() -> V<'a>) -> V<'a> {
    match WORDS.iter().find(|w| **w == s) {
        Some(w) => V::Lit(w),
        None => or(),
    }
}

pub(crate) fn text(s: &'static str) -> V<'static> {
    V::Lit(s)
}

pub(crate) fn list(items: &[&'static str]) -> V<'static> {
    V::Arr(collect(items.iter().map(|s| text(s))))
}

/// `str.lower()` / `str.upper()`, for ASCII text only (Unicode case maps are Python's own).
/// The text itself when it has no capital, else a lowercase copy in the arena.
pub(crate) fn lower(s: &str) -> R<&str> {
    if !s.is_ascii() {
        Err(Decline)
    } else if s.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut buf = [0u8; 32];
        let long;
        let lowered = if s.len() <= buf.len() {
            buf[..s.len()].copy_from_slice(s.as_bytes());
            buf[..s.len()].make_ascii_lowercase();
            std::str::from_utf8(&buf[..s.len()]).map_err(|_| Decline)? // ASCII in, ASCII out
        } else {
            long = s.to_ascii_lowercase();
            long.as_str()
        };
        // SAFETY: the text goes into the tree of the line, which lives inside one arena scope
        // (arena.rs)
        Ok(unsafe { alloc_str(lowered) })
    } else {
        Ok(s)
    }
}

pub(crate) fn upper(s: &str) -> R<String> {
    if s.is_ascii() { Ok(s.to_ascii_uppercase()) } else { Err(Decline) }
}

/// Python's `str.isspace()` characters: Unicode White_Space plus U+001C..U+001F.
pub(crate) fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `_int`: an int, or a string of digits read as one; None otherwise.
pub(crate) fn py_int<'a>(v: Option<&V<'a>>) -> R<Option<V<'a>>> {
    match v {
        Some(V::Int(i)) => Ok(Some(V::Int(*i))),
        Some(V::UInt(u)) => Ok(Some(V::UInt(*u))),
        Some(V::Str(s)) => {
            if s.is_empty() || s.bytes().any(|b| b.is_ascii() && !b.is_ascii_digit()) {
                Ok(None)
            } else if !s.is_ascii() {
                Err(Decline) // Unicode digits: str.isdigit() and int() have their own rules
            } else {
                s.parse::<u64>().map(|u| V::int(i128::from(u))).map_err(|_| Decline)
            }
        }
        _ => Ok(None),
    }
}

/// `str(value)` for an int or a string; other types are declined (repr rules).
pub(crate) fn py_str<'a>(v: &V<'a>) -> R<V<'a>> {
    match v {
        V::Int(i) => Ok(V::copy(itoa::Buffer::new().format(*i))),
        V::UInt(u) => Ok(V::copy(itoa::Buffer::new().format(*u))),
        V::Str(s) => Ok(V::Str(s)),
        _ => Err(Decline),
    }
}

pub(crate) fn nonempty<'a>(v: Option<V<'a>>) -> Option<&'a str> {
    match v {
        Some(V::Str(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn get_obj<'m, 'a>(m: &'m mut Map<'a>, key: &'static str) -> &'m mut Map<'a> {
    m.sub(key)
}

pub(crate) fn push_list<'a>(m: &mut Map<'a>, key: &'static str, item: V<'a>) {
    match m.get_mut(key) {
        Some(V::Arr(items)) => items.push(item),
        _ => m.set(key, V::Arr(collect([item]))),
    }
}

/// One EVE line to the parser's event, before `_finalize`.
pub fn parse(line: &str) -> R<Map<'_>> {
    if line.chars().all(py_space) {
        return Err(Decline); // parse() returns None: a line to skip
    }
    let Some(V::Obj(mut rec)) = value::parse(line) else { return Err(Decline) };
    let etype = match rec.pop("event_type") {
        Some(V::Str(s)) if !s.is_empty() => lower(s)?,
        _ => return Err(Decline),
    };
    let ts = match rec.pop("timestamp") {
        Some(V::Str(s)) => flow::utc_iso(s)?,
        _ => return Err(Decline),
    };
    let mut ev = Map::with_capacity(16);
    ev.push("@timestamp", V::copy(ts.as_str()));
    let (category, types, protocol) = kind(etype);
    let mut event = Map::with_capacity(12); // with what finalize adds
    event.push("kind", text(match etype { "alert" => "alert", "stats" => "metric", _ => "event" }));
    event.push("category", list(category));
    if !types.is_empty() {
        event.push("type", list(types));
    }
    ev.push("event", V::Obj(event));
    ev.push("network", V::Obj(Map::new()));
    endpoints(&mut rec, &mut ev)?;
    let app = rec.get("app_proto");
    let mut drop_app = false;
    if let Some(p) = protocol {
        ev.sub("network").set("protocol", text(p));
        drop_app = !matches!(app, None | Some(V::Null));
    } else if let Some(V::Str(a)) = app {
        let a = lower(a)?;
        if !NOT_PROTOCOLS.contains(&a) {
            let p = if a == "ftp-data" { "ftp" } else { a };
            ev.sub("network").set("protocol", word(p, || V::Str(p)));
            drop_app = true;
        }
    }
    if drop_app {
        rec.del("app_proto");
    }
    sections(&mut rec, &mut ev, etype)?;
    if matches!(ev.get("network"), Some(V::Obj(n)) if n.is_empty()) {
        ev.del("network");
    }
    match rec.get_mut("flow_id") {
        None | Some(V::Null) => {}
        Some(v) => *v = py_str(v)?,
    }
    rec.push("event_type", word(etype, || V::Str(etype)));
    let mut suricata = Map::new();
    suricata.push("eve", V::Obj(rec));
    ev.push("suricata", V::Obj(suricata));
    Ok(ev)
}

type Mapper = for<'a> fn(&mut Map<'a>, &mut Map<'a>, &str) -> R<()>;

const SECTIONS: [(&str, Mapper); 8] = [
    ("alert", alert),
    ("flow", flow_counters),
    ("netflow", flow_counters),
    ("http", http),
    ("dns", dns),
    ("tls", tls),
    ("fileinfo", fileinfo),
    ("anomaly", anomaly),
];

fn sections<'a>(rec: &mut Map<'a>, ev: &mut Map<'a>, etype: &str) -> R<()> {
    // one pass over the record: which of the mapped sections it has (as objects)
    let mut present = [false; SECTIONS.len()];
    for (key, value) in rec.pairs() {
        if let V::Obj(_) = value {
            if let Some(i) = SECTIONS.iter().position(|(name, _)| *name == &**key) {
                present[i] = true;
            }
        }
    }
    if !present.contains(&true) {
        return Ok(());
    }
    let has = |k: &str| SECTIONS.iter().zip(present).any(|((name, _), p)| p && *name == k);
    // Python maps the sections in set order (hash seed): decline where that order shows.
    let app_sections = usize::from(has("http")) + usize::from(has("dns")) + usize::from(has("tls"));
    let protocol_set = matches!(ev.get("network"), Some(V::Obj(n)) if n.contains("protocol"));
    if (has("http") && has("tls")) || (has("flow") && has("netflow")) || (has("tls") && has("fileinfo"))
        || (!protocol_set && app_sections > 1)
    {
        return Err(Decline);
    }
    for ((key, mapper), p) in SECTIONS.iter().zip(present) {
        if !p {
            continue;
        }
        if let Some(V::Obj(section)) = rec.get_mut(key) {
            mapper(section, ev, etype)?;
            if section.is_empty() {
                rec.del(key);
            }
        }
    }
    Ok(())
}

fn endpoints<'a>(rec: &mut Map<'a>, ev: &mut Map<'a>) -> R<()> {
    let sip = rec.get("src_ip").cloned();
    let dip = rec.get("dest_ip").cloned();
    let sport = rec.get("src_port").cloned();
    let dport = rec.get("dest_port").cloned();
    let mut source = Map::new();
    let mut dest = Map::new();
    if let Some(V::Str(s)) = &sip {
        if !s.is_empty() {
            source.push("ip", V::Str(s));
            rec.del("src_ip");
        }
    }
    if let Some(V::Str(s)) = &dip {
        if !s.is_empty() {
            dest.push("ip", V::Str(s));
            rec.del("dest_ip");
        }
    }
    if let Some(p) = sport.as_ref().filter(|p| p.is_int()) {
        source.push("port", p.clone());
        rec.del("src_port");
    }
    if let Some(p) = dport.as_ref().filter(|p| p.is_int()) {
        dest.push("port", p.clone());
        rec.del("dest_port");
    }
    let transport = match rec.pop("proto") {
        Some(V::Str(p)) if !p.is_empty() => Some(lower(p)?),
        _ => None,
    };
    let network = ev.sub("network");
    if let Some(t) = &transport {
        network.push("transport", word(t, || V::Str(t)));
    }
    let cid = match (rec.pop("community_id"), &transport) {
        (Some(V::Str(c)), _) => Some(V::Str(c)),
        (_, Some(t)) if *t == "icmp" || *t == "ipv6-icmp" => {
            community_id(t, sip.as_ref(), dip.as_ref(), rec.get("icmp_type"), rec.get("icmp_code"))?.map(|c| V::copy(c.as_str()))
        }
        (_, Some(t)) => community_id(t, sip.as_ref(), dip.as_ref(), sport.as_ref(), dport.as_ref())?.map(|c| V::copy(c.as_str())),
        _ => None,
    };
    if let Some(c) = cid {
        ev.sub("network").push("community_id", c);
    }
    if let Some(V::Obj(ether)) = rec.get_mut("ether") {
        for (key, side) in [("src_mac", &mut source), ("dest_mac", &mut dest)] {
            if let Some(V::Str(mac)) = ether.get(key) {
                side.push("mac", V::owned(upper(&mac.replace(':', "-"))?));
                ether.del(key);
            }
        }
        if ether.is_empty() {
            rec.del("ether");
        }
    }
    if let Some(V::Str(iface)) = rec.get("in_iface") {
        let mut interface = Map::new();
        interface.push("name", V::Str(iface));
        let mut ingress = Map::new();
        ingress.push("interface", V::Obj(interface));
        let mut observer = Map::new();
        observer.push("ingress", V::Obj(ingress));
        rec.del("in_iface");
        ev.push("observer", V::Obj(observer));
    }
    ev.push_map("source", source);
    ev.push_map("destination", dest);
    Ok(())
}

/// `community_id` / `cached_community_id` of the record's values: None unless two string
/// addresses and two int ports (or ICMP type and code); Decline for an address this port does
/// not read for sure.
fn community_id(transport: &str, sip: Option<&V>, dip: Option<&V>, sport: Option<&V>, dport: Option<&V>)
    -> R<Option<flow::CommunityId>> {
    let Some(proto) = flow::proto_number(transport) else { return Ok(None) };
    match (sip, dip, sport.and_then(V::as_i128), dport.and_then(V::as_i128)) {
        (Some(V::Str(sa)), Some(V::Str(da)), Some(sp), Some(dp)) => flow::community_id(proto, sa, da, sp, dp),
        _ => Ok(None),
    }
}

fn alert<'a>(alert: &mut Map<'a>, ev: &mut Map<'a>, etype: &str) -> R<()> {
    // signature, signature_id and category stay under suricata.eve.alert too, as Filebeat keeps them
    let mut rule = Map::new();
    match alert.get("signature_id") {
        None | Some(V::Null) => {}
        Some(sid) => rule.push("id", py_str(sid)?),
    }
    if let Some(name) = nonempty(alert.get("signature").cloned()) {
        rule.push("name", V::Str(name));
    }
    if let Some(category) = nonempty(alert.get("category").cloned()) {
        rule.push("category", V::Str(category));
    }
    ev.push_map("rule", rule);
    if let Some(severity) = py_int(alert.pop("severity").as_ref())? {
        ev.sub("event").set("severity", severity);
    }
    if etype == "alert" {
        if let Some(V::Str(action)) = alert.get("action") {
            let kind = if *action == "blocked" { "denied" } else { action };
            alert.del("action");
            push_list(ev.sub("event"), "type", word(kind, || V::Str(kind)));
        }
    }
    if let Some(V::Obj(meta)) = alert.get("metadata") {
        let mut threat = Map::new();
        for (key, group, field) in [
            ("mitre_tactic_id", "tactic", "id"),
            ("mitre_tactic_name", "tactic", "name"),
            ("mitre_technique_id", "technique", "id"),
            ("mitre_technique_name", "technique", "name"),
        ] {
            if let Some(V::Arr(items)) = meta.get(key) {
                if !items.is_empty() {
                    threat.sub(group).set(field, V::Arr(items.clone()));
                }
            }
        }
        if !threat.is_empty() {
            threat.push("framework", text("MITRE ATT&CK"));
            ev.set("threat", V::Obj(threat));
        }
    }
    Ok(())
}

fn flow_counters<'a>(flow: &mut Map<'a>, ev: &mut Map<'a>, etype: &str) -> R<()> {
    let counters: &[(&str, &'static str, &'static str)] = if etype == "netflow" {
        &[("bytes", "source", "bytes"), ("pkts", "source", "packets")]
    } else {
        &[
            ("bytes_toserver", "source", "bytes"),
            ("bytes_toclient", "destination", "bytes"),
            ("pkts_toserver", "source", "packets"),
            ("pkts_toclient", "destination", "packets"),
        ]
    };
    let (mut bytes, mut packets) = (0i128, 0i128);
    for (key, side, field) in counters {
        if let Some(value) = flow.get(key).and_then(V::as_i128) {
            flow.del(key);
            get_obj(ev, side).set(field, V::int(value).ok_or(Decline)?);
            if *field == "bytes" { bytes += value } else { packets += value }
        }
    }
    for (field, total) in [("bytes", bytes), ("packets", packets)] {
        if total != 0 {
            ev.sub("network").set(field, V::int(total).ok_or(Decline)?);
        }
    }
    for key in ["start", "end"] {
        match flow.pop(key) {
            None => {}
            Some(V::Str(s)) => {
                let ts = flow::utc_iso(s)?;
                ev.sub("event").set(key, V::copy(ts.as_str()));
            }
            Some(other) => flow.set(key, other), // not a string: ParseError, kept (at the end)
        }
    }
    if etype == "flow" {
        let state = flow.get("state").and_then(V::as_str);
        let step = match state { Some("new") => Some("start"), Some("closed") => Some("end"), _ => None };
        if let Some(step) = step {
            push_list(ev.sub("event"), "type", text(step));
        }
    }
    Ok(())
}

fn http<'a>(http: &mut Map<'a>, ev: &mut Map<'a>, etype: &str) -> R<()> {
    let network = ev.sub("network");
    if !network.contains("protocol") {
        network.push("protocol", text("http"));
    }
    let mut request = Map::new();
    let mut response = Map::new();
    if let Some(method) = nonempty(http.pop("http_method")) {
        request.push("method", V::Str(method));
    }
    if let Some(referrer) = nonempty(http.pop("http_refer")) {
        request.push("referrer", V::Str(referrer));
    }
    if let Some(status) = py_int(http.get("status"))? {
        http.del("status");
        let failed = status.as_i128().is_some_and(|s| s >= 400);
        response.push("status_code", status);
        if etype == "http" {
            ev.sub("event").set("outcome", text(if failed { "failure" } else { "success" }));
        }
    }
    if let Some(length) = py_int(http.get("length"))? {
        http.del("length");
        let mut body = Map::new();
        body.push("bytes", length);
        response.push("body", V::Obj(body));
    }
    if let Some(mime) = nonempty(http.pop("http_content_type")) {
        response.push("mime_type", V::Str(mime));
    }
    let mut out = Map::new();
    out.push_map("request", request);
    out.push_map("response", response);
    if let Some(version) = nonempty(http.pop("protocol")) {
        let v = version.strip_prefix("HTTP/").unwrap_or(version);
        if !v.is_empty() {
            out.push("version", V::Str(v));
        }
    }
    ev.push_map("http", out);
    if let Some(agent) = nonempty(http.pop("http_user_agent")) {
        let mut ua = Map::new();
        ua.push("original", V::Str(agent));
        ev.push("user_agent", V::Obj(ua));
    }
    let mut url = Map::new();
    if let Some(host) = nonempty(http.pop("hostname")) {
        url.push("domain", V::Str(host));
        ev.sub("destination").set("domain", V::Str(host));
    }
    if let Some(original) = nonempty(http.pop("url")) {
        if !original.starts_with('/') {
            return Err(Decline); // absolute, authority or asterisk form: `_other_form_url` in Python
        }
        let (rest, fragment) = original.split_once('#').unwrap_or((original, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        url.push("original", V::Str(original));
        url.push("path", V::Str(path));
        if !query.is_empty() {
            url.push("query", V::Str(query));
        }
        if !fragment.is_empty() {
            url.push("fragment", V::Str(fragment));
        }
        if let Some(extension) = extension(path)? {
            url.push("extension", V::Str(extension));
        }
    }
    ev.push_map("url", url);
    Ok(())
}


/// `_extension`: what follows the last dot of the last path segment, lower case, at most 16
/// characters; None when the segment has no dot or nothing follows it. Non-ASCII is declined.
fn extension(path: &str) -> R<Option<&str>> {
    let last = path.rsplit('/').next().unwrap_or(path);
    match last.rsplit_once('.') {
        None | Some((_, "")) => Ok(None),
        Some((_, ext)) => {
            let ext = lower(ext)?;
            Ok(Some(&ext[..ext.len().min(16)]))
        }
    }
}
