//! The application-layer sections of an EVE record (`_dns`, `_tls`, `_fileinfo`, `_anomaly` of
//! ingest/parsers/suricata_eve.py), each removing what it maps, as the Python mappers do.

use crate::arena::{avec, collect};
use crate::eve::{lower, nonempty, push_list, py_int, py_space, text, upper};
use crate::flow::{self, Decline, R};
use crate::value::{Map, V};

fn set_protocol(ev: &mut Map<'_>, protocol: &'static str) {
    let network = ev.sub("network");
    if !network.contains("protocol") {
        network.push("protocol", text(protocol));
    }
}

fn nonempty_ref<'a>(v: Option<&V<'a>>) -> Option<&'a str> {
    match v {
        Some(V::Str(s)) if !s.is_empty() => Some(*s),
        _ => None,
    }
}

pub fn dns<'a>(dns: &mut Map<'a>, ev: &mut Map<'a>, _etype: &str) -> R<()> {
    set_protocol(ev, "dns");
    let mut out = Map::new();
    if dns.get("id").is_some_and(V::is_int) {
        out.push("id", dns.remove("id").ok_or(Decline)?);
    }
    if let Some(V::Str(kind)) = dns.get("type") {
        let mapped = match *kind { "request" => "query", "response" => "answer", _ => kind };
        out.push("type", V::Str(mapped));
    }
    if let Some(rcode) = nonempty(dns.pop("rcode")) {
        out.push("response_code", V::Str(rcode));
    }
    let answer = out.get("type").and_then(V::as_str) == Some("answer");
    let v1 = matches!(dns.get("version"), None | Some(V::Null));
    let (first_is_dns, name, rrtype, one_query) = match dns.get("queries") {
        Some(V::Arr(q)) if matches!(q.first(), Some(V::Obj(_))) => {
            let Some(V::Obj(first)) = q.first() else { unreachable!() };
            (false, nonempty_ref(first.get("rrname")), nonempty_ref(first.get("rrtype")), q.len() == 1)
        }
        _ if answer && v1 => (false, None, None, false), // EVE v1: an answer names the answer
        _ => (true, nonempty_ref(dns.get("rrname")), nonempty_ref(dns.get("rrtype")), false),
    };
    if name.is_some() || rrtype.is_some() {
        let mut question = Map::new();
        if let Some(n) = name {
            question.push("name", V::Str(n));
        }
        if let Some(t) = rrtype {
            question.push("type", V::Str(t));
        }
        out.push("question", V::Obj(question));
        if first_is_dns {
            dns.del("rrname");
            dns.del("rrtype");
        } else if one_query {
            dns.del("queries");
        }
    }
    let mut flags = avec();
    for (key, flag) in [("aa", "AA"), ("tc", "TC"), ("rd", "RD"), ("ra", "RA")] {
        if matches!(dns.remove(key), Some(V::Bool(true))) {
            flags.push(text(flag));
        }
    }
    if !flags.is_empty() {
        out.push("header_flags", V::Arr(flags));
    }
    let raw = if v1 && answer && dns.contains("rdata") {
        let mut item = Map::new();
        for key in ["rrname", "rrtype", "ttl", "rdata"] {
            if let Some(value) = dns.remove(key) {
                item.push(key, value);
            }
        }
        Some(collect([V::Obj(item)]))
    } else if matches!(dns.get("answers"), Some(V::Arr(_))) {
        match dns.remove("answers") { Some(V::Arr(items)) => Some(items), _ => None }
    } else {
        None
    };
    let mut answers = avec();
    let mut resolved: Vec<&'a str> = Vec::new();
    for ans in raw.iter().flatten() {
        let V::Obj(ans) = ans else { continue };
        let mut item = Map::new();
        for (from, to) in [("rrname", "name"), ("rrtype", "type"), ("ttl", "ttl"), ("rdata", "data")] {
            if let Some(value) = ans.get(from) {
                item.push(to, value.clone());
            }
        }
        answers.push(V::Obj(item));
        match (ans.get("rrtype"), ans.get("rdata")) {
            (Some(V::Arr(_) | V::Obj(_)), _) => return Err(Decline), // unhashable: TypeError in Python
            (Some(V::Str(t)), Some(V::Str(data))) if *t == "A" || *t == "AAAA" => resolved.push(*data),
            _ => {}
        }
    }
    if answers.is_empty() {
        if let Some(V::Obj(grouped)) = dns.get("grouped") {
            for (rrtype, values) in grouped.pairs() {
                if let (V::Arr(values), "A" | "AAAA") = (values, &**rrtype) {
                    resolved.extend(values.iter().filter_map(|v| v.as_str().map(|_| v)).map(|v| match v {
                        V::Str(s) => *s,
                        _ => unreachable!(),
                    }));
                }
            }
        }
    } else {
        out.push("answers", V::Arr(answers));
    }
    if !resolved.is_empty() {
        let related = ev.sub("related");
        if !matches!(related.get("ip"), Some(V::Arr(_))) {
            related.set("ip", V::Arr(avec()));
        }
        if let Some(V::Arr(ips)) = related.get_mut("ip") {
            for ip in &resolved {
                if !ips.iter().any(|v| v.as_str() == Some(ip)) {
                    ips.push(V::Str(ip));
                }
            }
        }
        out.push("resolved_ip", V::Arr(collect(resolved.into_iter().map(V::Str))));
    }
    ev.set("dns", V::Obj(out));
    Ok(())
}

/// `_dn`: `C=US, O=Example\, Inc., CN=www.example.org` -> x509 name fields (lists).
fn dn(text: &str) -> Map<'static> {
    let mut out = Map::new();
    for part in text.replace("\\,", "\0").split(", ") {
        let Some((key, value)) = part.split_once('=') else { continue };
        let field = match key.trim_matches(py_space) {
            "CN" => "common_name",
            "O" => "organization",
            "OU" => "organizational_unit",
            "C" => "country",
            "ST" => "state_or_province",
            "L" => "locality",
            _ => continue,
        };
        push_list(&mut out, field, V::owned(value.replace('\0', ",")));
    }
    out
}

pub fn tls<'a>(tls: &mut Map<'a>, ev: &mut Map<'a>, _etype: &str) -> R<()> {
    set_protocol(ev, "tls");
    let mut server = Map::new();
    let mut client = Map::new();
    let mut x509 = Map::new();
    let mut out = Map::new();
    if let Some(version) = nonempty_ref(tls.get("version")).filter(|v| *v != "UNDETERMINED") {
        let replaced = version.replacen('v', " ", 1);
        let (proto, number) = replaced.split_once(' ').unwrap_or((&replaced, ""));
        let number = number.trim_matches(py_space);
        if (proto == "TLS" || proto == "SSL") && !number.is_empty() {
            let number = if number.contains('.') { number.to_owned() } else { format!("{number}.0") };
            let proto = lower(proto)?;
            tls.del("version");
            out.push("version_protocol", V::copy(proto));
            out.push("version", V::owned(number));
        }
    }
    if let Some(subject) = nonempty(tls.pop("subject")) {
        x509.push("subject", V::Obj(dn(subject)));
        server.push("subject", V::Str(subject));
    }
    if let Some(issuer) = nonempty(tls.pop("issuerdn")) {
        x509.push("issuer", V::Obj(dn(issuer)));
        server.push("issuer", V::Str(issuer));
    }
    if let Some(serial) = nonempty(tls.pop("serial")) {
        x509.push("serial_number", V::owned(serial.replace(':', "")));
    }
    for (key, field) in [("notbefore", "not_before"), ("notafter", "not_after")] {
        if let Some(V::Str(value)) = tls.get(key) {
            let ts = if value.contains('.') { flow::utc_iso(value)? } else { flow::utc_iso(&format!("{value}.000"))? };
            server.set(field, V::copy(ts.as_str()));
            x509.set(field, V::copy(ts.as_str()));
            tls.del(key);
        }
    }
    if let Some(fingerprint) = nonempty(tls.pop("fingerprint")) {
        let sha1 = upper(&fingerprint.replace(':', ""))?;
        let mut hash = Map::new();
        hash.push("sha1", V::owned(sha1.clone()));
        server.push("hash", V::Obj(hash));
        push_list(ev.sub("related"), "hash", V::owned(sha1));
    }
    if let Some(sni) = nonempty(tls.pop("sni")) {
        let sni = sni.strip_suffix('.').unwrap_or(sni).to_owned();
        client.push("server_name", V::owned(sni.clone()));
        ev.sub("destination").set("domain", V::owned(sni));
    }
    for (key, to_client, field) in [("ja3", true, "ja3"), ("ja3s", false, "ja3s")] {
        let mut emptied = false;
        if let Some(V::Obj(value)) = tls.get_mut(key) {
            if matches!(value.get("hash"), Some(V::Str(_))) {
                let hash = value.remove("hash").ok_or(Decline)?;
                if to_client { client.set(field, hash) } else { server.set(field, hash) }
                emptied = value.is_empty();
            }
        }
        if emptied {
            tls.del(key);
        }
    }
    if let Some(V::Bool(resumed)) = tls.pop("session_resumed") {
        out.push("resumed", V::Bool(resumed));
    }
    for (key, field) in [("certificate", "certificate"), ("chain", "certificate_chain")] {
        if let Some(value) = tls.pop(key).filter(V::truthy) {
            server.set(field, value);
        }
    }
    server.push_map("x509", x509);
    out.push_map("server", server);
    out.push_map("client", client);
    ev.set("tls", V::Obj(out));
    Ok(())
}

pub fn fileinfo<'a>(info: &mut Map<'a>, ev: &mut Map<'a>, _etype: &str) -> R<()> {
    let mut file = Map::new();
    if let Some(name) = nonempty(info.pop("filename")) {
        let base = name.rsplit_once('/').map_or(name.as_ref(), |(_, b)| b).to_owned();
        let extension = match base.rsplit_once('.') {
            Some((_, ext)) => Some(lower(ext)?.chars().take(16).collect::<String>()),
            None => None,
        };
        file.push("path", V::Str(name));
        file.push("name", V::owned(base));
        if let Some(ext) = extension {
            file.push("extension", V::owned(ext));
        }
    }
    if let Some(size) = py_int(info.get("size"))? {
        info.del("size");
        file.push("size", size);
    }
    let mut hashes = Map::new();
    for algo in ["md5", "sha1", "sha256"] {
        if let Some(value) = nonempty(info.pop(algo)) {
            hashes.push(algo, V::Str(value));
        }
    }
    if !hashes.is_empty() {
        for (_, value) in hashes.pairs() {
            push_list(ev.sub("related"), "hash", value.clone());
        }
        file.push("hash", V::Obj(hashes));
    }
    if let Some(mime) = nonempty_ref(info.get("mimetype")) {
        file.push("mime_type", V::Str(mime));
    }
    ev.push_map("file", file);
    Ok(())
}

pub fn anomaly<'a>(anomaly: &mut Map<'a>, ev: &mut Map<'a>, _etype: &str) -> R<()> {
    if let Some(action) = nonempty_ref(anomaly.get("event")) {
        ev.sub("event").set("action", V::Str(action));
    }
    Ok(())
}
