"""Beaconing (anomaly.beacon) through hunt() on an embedded store holding the labelled captures:
the NjRAT command-and-control and the scripted 2-second loop are found, the periodic Microsoft,
ESET, Dropbox and certificate-validation services of the benign day are not; a jittered beacon
still scores; the pure scoring on small frames; hostile values never crash."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from cert.core.aggregate import AggregateQuery
from cert.core.anomaly import MemoryState
from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.ecs import Event, get
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.beacon import BeaconConfig, BeaconDetector, pair_features, score_pairs
from detectors.anomaly.networks import Networks
from tests.detectors.network_captures import INJECTED, MONITORED, NJRAT, NORMAL, PERIODIC, read, store_of

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def detector(**settings: object) -> BeaconDetector:
    return BeaconDetector(Settings(anomaly_internal_networks=MONITORED, **settings))  # type: ignore[arg-type]


def found(hits: list) -> set[str]:
    return {h.group_key for h in hits}


def test_registered() -> None:
    assert detectors.get("anomaly.beacon") is BeaconDetector


def test_njrat_c2_injected_into_a_benign_day_is_found_and_the_periodic_services_are_not(tmp_path: Path) -> None:
    store, start, end = store_of(tmp_path, INJECTED)
    hits = detector().hunt(store, start, end)
    assert found(hits) == {"147.32.81.167|41.108.179.197|1177"}
    hit = hits[0]
    assert hit.severity == "high" and len(hit.event_ids) == 20
    events = store.get(hit.event_ids)
    assert {(get(e, "destination.ip"), get(e, "destination.port")) for e in events} == {("41.108.179.197", 1177)}
    labels = {get(e, "zeek.connection.detailedlabel") for e in events}
    assert labels == {"CC-injected"}
    x = hit.explanation
    assert x["score"] >= 0.9
    features = {f["name"]: f for f in x["features"]}
    assert 9 <= features["mean_interval"]["value"] <= 14  # NjRAT's ~8-9 s and ~14 s reconnects
    # unanswered SYNs: IP bytes (Filebeat's source/destination.bytes), headers only, 52 bytes a SYN
    assert 0 < features["bytes_per_connection"]["value"] <= 3 * 60
    assert features["calls_per_hour"]["value"] > 200
    assert sum(x["chart"]["values"]) == 236 and len(x["chart"]["labels"]) == len(x["chart"]["values"])
    assert x["first_seen"] < x["last_seen"]


def test_benign_day_alone_raises_nothing(tmp_path: Path) -> None:
    store, start, end = store_of(tmp_path, NORMAL)
    det = detector()
    assert det.hunt(store, start, end) == []
    scored = det.scored(store, start, end)
    labelled = {(get(e, "destination.ip"), get(e, "destination.port")): get(e, "zeek.connection.detailedlabel")
                for e in read(NORMAL)}
    kinds = {labelled[(d, p)] for d, p in zip(scored["destination.ip"], scored["destination.port"], strict=True)}
    assert {"Microsoft", "ESET", "Dropbox"} <= kinds  # they were scored, and stayed under the threshold
    assert scored["score"].max() < det.config.threshold


def test_njrat_capture_and_scripted_loop_are_found(tmp_path: Path) -> None:
    store, start, end = store_of(tmp_path, NJRAT)
    assert found(detector().hunt(store, start, end)) == {"192.168.1.115|41.108.179.197|1177"}
    (tmp_path / "p").mkdir()
    store, start, end = store_of(tmp_path / "p", PERIODIC)
    assert found(detector().hunt(store, start, end)) == {"147.32.80.37|141.193.213.21|443"}


def test_a_pair_marked_benign_is_not_raised_again(tmp_path: Path) -> None:
    store, start, end = store_of(tmp_path, PERIODIC)
    det = detector()
    state = MemoryState()
    state.mark_benign("anomaly.beacon", "147.32.80.37|141.193.213.21|443")
    det.state = state
    assert det.hunt(store, start, end) == []


def beacon(period: float, jitter: float, count: int, seed: int = 7, src: str = "10.1.2.3",
           dst: str = "203.0.113.50", port: int = 8443) -> list[Event]:
    rng = random.Random(seed)
    at = T0
    out = []
    for i in range(count):
        at += timedelta(seconds=period * (1 + rng.uniform(-jitter, jitter)))
        out.append({"@timestamp": at.isoformat().replace("+00:00", "Z"), "event": {"id": f"{seed}-{i}"},
                    "source": {"ip": src, "bytes": 310 + rng.randint(-20, 20)},
                    "destination": {"ip": dst, "port": port, "bytes": 1200 + rng.randint(-60, 60)}})
    return out


@pytest.mark.parametrize("period", [10.0, 60.0, 120.0])
def test_a_beacon_with_thirty_percent_jitter_still_scores(tmp_path: Path, period: float) -> None:
    store = EmbeddedEventStore(tmp_path / "e.sqlite3")
    store.write(beacon(period, 0.30, 200))
    # ordinary browsing beside it: irregular calls to many servers
    rng = random.Random(3)
    noise = []
    for i in range(300):
        at = T0 + timedelta(seconds=rng.uniform(0, 200 * period))
        noise.append({"@timestamp": at.isoformat().replace("+00:00", "Z"), "event": {"id": f"n{i}"},
                      "source": {"ip": "10.1.2.3", "bytes": rng.randint(300, 90000)},
                      "destination": {"ip": f"198.51.100.{rng.randint(1, 12)}", "port": 443,
                                      "bytes": rng.randint(1000, 900000)}})
    store.write(noise)
    end = T0 + timedelta(seconds=220 * period)
    hits = detector().hunt(store, T0, end)
    assert found(hits) == {"10.1.2.3|203.0.113.50|8443"}
    features = {f["name"]: f["value"] for f in hits[0].explanation["features"]}
    assert abs(features["mean_interval"] - period) < period * 0.1


def frame(rows: list[tuple[str, str, object, int, int, object, object]]) -> pd.DataFrame:
    return pd.DataFrame({"source.ip": [r[0] for r in rows], "destination.ip": [r[1] for r in rows],
                         "destination.port": [r[2] for r in rows],
                         "bucket": pd.to_datetime([r[3] for r in rows], unit="s", utc=True),
                         "connections": [r[4] for r in rows], "sent": [r[5] for r in rows],
                         "received": [r[6] for r in rows]})


def test_scoring_of_hand_made_pairs() -> None:
    regular = [("10.0.0.1", "192.0.2.1", 443, 1000 + 60 * i, 1, 100, 200) for i in range(30)]
    irregular = [("10.0.0.2", "192.0.2.2", 443, t, 1, 100 * (t % 7 + 1), 50)
                 for t in (1000, 1003, 1090, 1500, 1502, 2600, 2700, 2705, 4000, 4500)]
    too_few = [("10.0.0.3", "192.0.2.3", 80, 1000 + 60 * i, 1, 10, 10) for i in range(5)]
    features = pair_features(frame(regular + irregular + too_few), min_calls=6)
    assert set(features["source.ip"]) == {"10.0.0.1", "10.0.0.2"}
    scored = score_pairs(features, 3600, BeaconConfig()).set_index("source.ip")
    assert scored.loc["10.0.0.1", "interval_median"] == 60 and scored.loc["10.0.0.1", "interval_madm"] == 0
    assert scored.loc["10.0.0.1", "size_median"] == 300
    assert scored.loc["10.0.0.1", "score"] > 0.9 > 0.5 > scored.loc["10.0.0.2", "score"]
    # a destination every internal host calls (an update server) scores lower than a rare one
    common = score_pairs(features, 3600, BeaconConfig(), pd.Series({"192.0.2.1": 50}), 50).set_index("source.ip")
    assert common.loc["10.0.0.1", "score"] < 0.6 * scored.loc["10.0.0.1", "score"]
    # slower calls of the same regularity score lower (frequency)
    slow = pair_features(frame([("10.0.0.1", "192.0.2.1", 443, 1000 + 1800 * i, 1, 100, 200) for i in range(30)]))
    assert score_pairs(slow, 86400, BeaconConfig())["score"].iloc[0] < scored.loc["10.0.0.1", "score"] - 0.2


def test_only_traffic_leaving_the_network_is_scored(tmp_path: Path) -> None:
    store = EmbeddedEventStore(tmp_path / "e.sqlite3")
    store.write(beacon(30, 0.0, 100, seed=1, src="10.1.1.1", dst="10.9.9.9", port=53))  # internal resolver
    store.write(beacon(30, 0.0, 100, seed=2, src="203.0.113.9", dst="198.51.100.1", port=443))  # external source
    store.write(beacon(30, 0.0, 100, seed=3, src="10.1.1.1", dst="ff02::fb", port=5353))  # multicast
    assert detector().hunt(store, T0, T0 + timedelta(hours=2)) == []
    networks = Networks.from_settings(Settings(anomaly_internal_networks=("203.0.113.0/24",)))
    assert networks.internal("203.0.113.9") and networks.internal("fe80::1") and not networks.internal("8.8.8.8")
    assert not networks.internal(None) and not networks.internal(["10.0.0.1"]) and not networks.internal("x" * 500)


def test_hostile_values_never_crash(tmp_path: Path) -> None:
    store = EmbeddedEventStore(tmp_path / "e.sqlite3")
    odd: list[object] = ["not-a-number", 2**63 - 1, -5, None, {"x": 1}, [1, 2], float("inf"), True, "1e400"]
    events = [{"@timestamp": (T0 + timedelta(seconds=10 * i)).isoformat().replace("+00:00", "Z"),
               "event": {"id": f"h{i}"},
               "source": {"ip": ["10.0.0.1", "10.0.0.5", "not an ip", "10.0.0.1' OR 1=1"][i % 4],
                          "bytes": odd[i % len(odd)]},
               "destination": {"ip": ["192.0.2.1", "<script>", "\x00", "2001:db8::1"][i % 4],
                               "port": [443, "https", -1, 2**63 - 1][i % 4], "bytes": odd[(i + 3) % len(odd)]}}
              for i in range(60)]
    store.write(events)
    for hit in detector().hunt(store, T0, T0 + timedelta(hours=1)):
        assert 0 <= hit.explanation["score"] <= 1
    assert pair_features(pd.DataFrame()).empty
    weird = frame([("10.0.0.1", "192.0.2.1", "x", t, 1, "a", None) for t in (5, 5, 6, 9, 300, 10**10)])
    score_pairs(pair_features(weird, min_calls=4), 0, BeaconConfig())
    with pytest.raises(ValueError, match="one field"):
        AggregateQuery(T0, T0, group=())
