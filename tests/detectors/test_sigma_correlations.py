"""Sigma correlation rules, every type, in the streaming detector: group-by, sliding timespans,
aliases, chaining, ``generate``, and conditions judged when the window closes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cert.core.config import Settings
from cert.core.contracts import EVIDENCE_FIELDS, Hit, hit_for_events
from cert.core.registry import load_plugins
from detectors.sigma.detector import SigmaDetector

load_plugins(["detectors"])

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
BASE = """title: {title}
id: {id}
name: {name}
logsource:
  product: vigie
  service: test
detection:
  sel:
    action: {action}
  condition: sel
level: low
---
"""


def base(name: str, action: str, n: int) -> str:
    return BASE.format(title=f"base {name}", id=f"00000000-0000-4000-8000-{n:012d}", name=name, action=action)


def corr(body: str, title: str = "corr", rid: str = "cccccccc-0000-4000-8000-000000000001", level: str = "high",
         name: str = "") -> str:
    named = f"name: {name}\n" if name else ""
    return f"title: {title}\nid: {rid}\n{named}level: {level}\ncorrelation:\n{body}---\n"


def detector(tmp_path: Path, *docs: str) -> SigmaDetector:
    d = tmp_path / "r" / "sigma"
    d.mkdir(parents=True, exist_ok=True)
    (d / "rules.yml").write_text("".join(docs), encoding="utf-8")
    det = SigmaDetector(replace(Settings(), rules_dir=tmp_path / "r", data_dir=tmp_path / "data"))
    assert not det.rejected, det.rejected
    return det


_n = iter(range(1, 10**6))


def ev(action: str, minute: float, **fields: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"@timestamp": (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
                         "event": {"dataset": "vigie.test", "id": f"e{next(_n)}"}, "action": action}
    e.update(fields)
    return e


def titles(hits: list[Hit]) -> list[str]:
    return sorted(h.title for h in hits)


def of(hits: list[Hit], title: str) -> list[Hit]:
    return [h for h in hits if h.title == title]


def test_event_count_fires_per_group_within_the_timespan_and_keeps_growing(tmp_path: Path) -> None:
    det = detector(tmp_path, base("fail", "login_failed", 1), corr(
        "  type: event_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 5m\n  condition:\n    gte: 4\n",
        title="many failures"))
    attacker = [ev("login_failed", i * 0.5, src="203.0.113.9") for i in range(6)]
    slow = [ev("login_failed", i * 3.0, src="10.0.0.1") for i in range(4)]  # 4 failures over 9 minutes
    hits = det.detect(sorted(attacker + slow, key=lambda e: e["@timestamp"]))
    fired = of(hits, "many failures")
    assert {h.group_key for h in fired} == {"src=203.0.113.9"}
    assert sum(len(h.event_ids) for h in fired) == 6  # 4 to fire, then the two later ones join
    assert fired[0].severity == "high"
    assert not of(hits, "base fail")  # generate: false (default): the base rule raises nothing itself


def test_event_count_adds_each_event_count(tmp_path: Path) -> None:
    """``event.count``: a line standing for several occurrences (a syslog repetition) adds them all,
    a line repeating an occurrence already counted adds none; a bad value counts 1."""
    det = detector(tmp_path, base("fail", "login_failed", 1), corr(
        "  type: event_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 5m\n  condition:\n    gte: 5\n",
        title="many failures"))
    repeated = [ev("login_failed", 0, src="a"), ev("login_failed", 0.1, src="a", event={"dataset": "vigie.test", "count": 4, "id": "r"})]
    duplicates = [ev("login_failed", i * 0.1, src="b", event={"dataset": "vigie.test", "count": 0, "id": f"d{i}"}) for i in range(8)]
    duplicates += [ev("login_failed", 1 + i * 0.1, src="b") for i in range(4)]
    forged = [ev("login_failed", i * 0.1, src="c", event={"dataset": "vigie.test", "count": v, "id": f"f{i}"})
              for i, v in enumerate([-50, "9", True, 10**9])]
    hits = det.detect(sorted(repeated + duplicates + forged, key=lambda e: e["@timestamp"]))
    assert {h.group_key for h in of(hits, "many failures")} == {"src=a"}


def test_generate_true_keeps_the_base_rule_alerts(tmp_path: Path) -> None:
    det = detector(tmp_path, base("fail", "login_failed", 1), corr(
        "  type: event_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 5m\n  generate: true\n"
        "  condition:\n    gte: 2\n"))
    hits = det.detect([ev("login_failed", 0, src="a"), ev("login_failed", 1, src="a")])
    assert titles(hits) == ["base fail", "corr"]


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    det = detector(tmp_path, base("fail", "login_failed", 1), corr(
        "  type: value_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 10m\n"
        "  condition:\n    field: user\n    gte: 3\n", title="stuffing"))
    same_user = [ev("login_failed", i, src="a", user="bob") for i in range(5)]
    many_users = [ev("login_failed", i, src="b", user=u) for i, u in enumerate(["x", "y", "x", "z"])]
    hits = det.detect(sorted(same_user + many_users, key=lambda e: e["@timestamp"]))
    assert [h.group_key for h in of(hits, "stuffing")] == ["src=b"]


def test_temporal_any_order_and_temporal_ordered(tmp_path: Path) -> None:
    docs = [base("recon", "whoami", 1), base("dump", "lsass_read", 2),
            corr("  type: temporal\n  rules: [recon, dump]\n  group-by: [host]\n  timespan: 5m\n", title="both"),
            corr("  type: temporal_ordered\n  rules: [recon, dump]\n  group-by: [host]\n  timespan: 5m\n",
                 title="in order", rid="cccccccc-0000-4000-8000-000000000002")]
    det = detector(tmp_path, *docs)
    events = [ev("lsass_read", 0, host="h1"), ev("whoami", 1, host="h1"),  # reverse order on h1
              ev("whoami", 0, host="h2"), ev("lsass_read", 2, host="h2"),  # in order on h2
              ev("whoami", 0, host="h3"), ev("lsass_read", 9, host="h3")]  # too far apart on h3
    hits = det.detect(sorted(events, key=lambda e: e["@timestamp"]))
    assert sorted(h.group_key for h in of(hits, "both")) == ["host=h1", "host=h2"]
    assert [h.group_key for h in of(hits, "in order")] == ["host=h2"]


def test_extended_temporal_condition_with_not_is_judged_when_the_window_closes(tmp_path: Path) -> None:
    det = detector(tmp_path, base("login", "login_ok", 1), base("mfa", "mfa_ok", 2), corr(
        "  type: temporal\n  rules: [login, mfa]\n  group-by: [user]\n  timespan: 5m\n"
        "  condition: login and not mfa\n", title="login without mfa"))
    first = det.detect([ev("login_ok", 0, user="ali"), ev("mfa_ok", 1, user="ali"), ev("login_ok", 0.5, user="bintou")])
    assert not of(first, "login without mfa")  # nothing can be said before the windows end
    later = det.detect([ev("other", 20, user="x")])  # event time moves on: windows close
    assert [h.group_key for h in of(later, "login without mfa")] == ["user=bintou"]


def test_value_sum_avg_median_percentile(tmp_path: Path) -> None:
    docs = [base("flow", "flow", 1)]
    for i, (kind, cond) in enumerate([("value_sum", "gt: 1000"), ("value_avg", "gte: 400"),
                                      ("value_median", "gte: 300"), ("value_percentile", "percentile: 90\n    gte: 500")]):
        docs.append(corr(f"  type: {kind}\n  rules: [flow]\n  group-by: [src]\n  timespan: 1h\n"
                         f"  condition:\n    field: bytes\n    {cond}\n", title=kind,
                         rid=f"cccccccc-0000-4000-8000-00000000001{i}"))
    det = detector(tmp_path, *docs)
    small = [ev("flow", i, src="a", bytes=str(b)) for i, b in enumerate([100, 200, 300])]
    big = [ev("flow", i, src="b", bytes=b) for i, b in enumerate([100, 300, 900])]
    hits = det.detect(sorted(small + big, key=lambda e: e["@timestamp"]))
    fired = {(h.title, h.group_key) for h in hits}
    assert fired == {("value_sum", "src=b"), ("value_avg", "src=b"), ("value_median", "src=b"),
                     ("value_percentile", "src=b")}


def test_lt_condition_fires_at_window_close(tmp_path: Path) -> None:
    det = detector(tmp_path, base("beat", "heartbeat", 1), corr(
        "  type: event_count\n  rules: [beat]\n  group-by: [host]\n  timespan: 10m\n  condition:\n    lt: 3\n",
        title="agent going quiet"))
    hits = det.detect([ev("heartbeat", 0, host="quiet"), ev("heartbeat", 0, host="busy"),
                       ev("heartbeat", 2, host="busy"), ev("heartbeat", 4, host="busy")])
    assert not of(hits, "agent going quiet")
    hits = det.flush()
    assert [h.group_key for h in hits] == ["host=quiet"]


def test_aliases_group_different_fields(tmp_path: Path) -> None:
    det = detector(tmp_path, base("scan_in", "inbound_probe", 1), base("conn_out", "outbound_conn", 2), corr(
        "  type: temporal_ordered\n  rules: [scan_in, conn_out]\n  group-by: [internal]\n  timespan: 10m\n"
        "  aliases:\n    internal:\n      scan_in: dst_ip\n      conn_out: src_ip\n", title="probed then calls out"))
    hits = det.detect([ev("inbound_probe", 0, dst_ip="10.1.1.5", src_ip="198.51.100.7"),
                       ev("outbound_conn", 3, src_ip="10.1.1.5", dst_ip="198.51.100.7"),
                       ev("outbound_conn", 4, src_ip="10.9.9.9", dst_ip="198.51.100.7")])
    assert [h.group_key for h in of(hits, "probed then calls out")] == ["internal=10.1.1.5"]


def test_chained_correlation_refers_to_a_correlation(tmp_path: Path) -> None:
    det = detector(tmp_path, base("fail", "login_failed", 1), base("ok", "login_ok", 2),
                   corr("  type: event_count\n  rules: [fail]\n  group-by: [user]\n  timespan: 5m\n"
                        "  condition:\n    gte: 3\n", title="brute force", name="brute",
                        rid="cccccccc-0000-4000-8000-000000000020"),
                   corr("  type: temporal_ordered\n  rules: [brute, ok]\n  group-by: [user]\n  timespan: 10m\n",
                        title="brute force then success", level="critical",
                        rid="cccccccc-0000-4000-8000-000000000021"))
    events = [ev("login_failed", i * 0.2, user="root") for i in range(3)] + [ev("login_ok", 2, user="root"),
              ev("login_ok", 2, user="alice")]
    hits = det.detect(events)
    chained = of(hits, "brute force then success")
    assert [h.group_key for h in chained] == ["user=root"] and chained[0].severity == "critical"
    assert len(chained[0].event_ids) == 4  # the three failures and the success
    assert not of(hits, "brute force")  # referenced by the outer correlation (generate: false)


def test_state_survives_across_batches(tmp_path: Path) -> None:
    doc = [base("fail", "login_failed", 1), corr(
        "  type: event_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 5m\n  condition:\n    gte: 3\n")]
    det = detector(tmp_path, *doc)
    assert not det.detect([ev("login_failed", 0, src="a"), ev("login_failed", 1, src="a")])
    assert titles(det.detect([ev("login_failed", 2, src="a")])) == ["corr"]


def test_windows_keep_only_the_evidence_and_hits_are_those_of_the_whole_events(tmp_path: Path) -> None:
    """A window holds, for each match, the fields a hit takes (``EVIDENCE_FIELDS``), not the whole
    event; the hit, fired over two batches from what the window kept, is the hit of the whole
    events, each event once though two rules of the correlation match it."""
    det = detector(tmp_path, base("flow", "flow", 1), base("any_flow", "flow", 2), corr(
        "  type: value_sum\n  rules: [flow, any_flow]\n  group-by: [source.ip]\n  timespan: 1h\n"
        "  condition:\n    field: source.bytes\n    gt: 2000\n", title="exfiltration"))
    flows = [ev("flow", i, source={"ip": "10.0.0.5", "bytes": 300}, destination={"ip": "198.51.100.7"},
                user={"name": f"u{i}"}, organization={"name": "Ministry"}, payload="x" * 10_000) for i in range(4)]
    first = det.detect(flows[:3])  # 3 events, 2 matches each: 1,800 bytes, the window stays open
    kept = [m.event for c in det.correlations for g in c.groups.values() for *_, m in g.items]
    assert len(kept) == 6 and all(e is not None and set(e) <= set(EVIDENCE_FIELDS) for e in kept)
    fired = of(first + det.detect(flows[3:]), "exfiltration")[0]  # (then the event's second match joins it)
    assert fired == replace(hit_for_events(flows, rule_id=fired.rule_id, title="exfiltration", severity="high",
                                           detector="sigma", group_key="source.ip=10.0.0.5"), attack=fired.attack)
