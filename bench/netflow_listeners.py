"""Network intake: the NetFlow/IPFIX decoder, and the NetFlow and syslog listeners end to end.

Run: python bench/netflow_listeners.py [--flows 60000] [--messages 30000]

1. Decoding: records/s of ``NetflowDecoder`` on v5, v9 and IPFIX datagrams, against the floor of
   pure-Python decoding: ``struct.iter_unpack`` of the same v5 records with nothing else done.
2. End to end, on 127.0.0.1 into the embedded store: flows/s through ``cert listen netflow``
   (UDP -> decode -> ``netflow`` parser -> store) and messages/s through ``cert listen syslog``
   over TCP, each against ``cert ingest`` of the same number of lines from a file (the
   pipeline without the network), measured in the same run.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "ingest"))

import netflow_packets as nf

from cert.core.config import Settings
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.listeners import Endpoint, ListenerConfig, listeners
from cert.runtime.platform import Platform
from ingest.netflow.decoder import NetflowDecoder


def platform(tmp: Path, name: str) -> Platform:
    p = Platform(replace(Settings(), data_dir=tmp / name, secret_key="bench",  # noqa: S106 - throwaway
                         plugins=("ingest.parsers", "ingest.listeners")))
    p.db.upgrade()
    return p


def v5_datagrams(n_flows: int) -> list[bytes]:
    return [nf.v5([nf.v5_record(f"10.{d % 250}.{i}.1", f"203.0.113.{i}", 40000 + i, 443) for i in range(30)],
                  sequence=d)
            for d in range(n_flows // 30)]


def v9_datagrams(n_flows: int) -> list[bytes]:
    template = nf.flowset(0, nf.v9_template(256, nf.V9_FLOW_FIELDS))
    out = []
    for d in range(n_flows // 40):
        records = b"".join(nf.v9_flow(f"10.{d % 250}.{i}.1", "203.0.113.9", 40000 + i, 22) for i in range(40))
        out.append(nf.v9([template, nf.flowset(256, records)], sequence=d))
    return out


def ipfix_datagrams(n_flows: int) -> list[bytes]:
    fields = [nf.ie(8, 4), nf.ie(12, 4), nf.ie(7, 2), nf.ie(11, 2), nf.ie(4, 1), nf.ie(1, 8), nf.ie(2, 8),
              nf.ie(152, 8), nf.ie(153, 8)]
    template = nf.flowset(2, nf.ipfix_template(300, fields))
    ms = nf.EXPORT_SECS * 1000
    out = []
    for d in range(n_flows // 30):
        records = b"".join(nf.ip4(f"10.{d % 250}.{i}.1") + nf.ip4("192.0.2.53")
                           + struct.pack(">HHBQQQQ", 5353, 53, 17, 80, 1, ms - 900, ms - 100) for i in range(30))
        out.append(nf.ipfix([template, nf.flowset(300, records)], sequence=d))
    return out


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_decode(n_flows: int) -> None:
    print(f"## decode ({n_flows} flows per format)")
    v5 = v5_datagrams(n_flows)
    start = time.perf_counter()
    n = 0
    for d in v5:
        n += sum(1 for _ in struct.iter_unpack(">4s4s4sHHIIIIHHxBBBHHBBxx", d[24:]))
    floor = rate(n, time.perf_counter() - start)
    print(f"baseline struct.iter_unpack of v5 records: {floor:,.0f} records/s")
    for name, datagrams in (("v5", v5), ("v9", v9_datagrams(n_flows)), ("ipfix", ipfix_datagrams(n_flows))):
        decoder = NetflowDecoder()
        start = time.perf_counter()
        n = sum(len(decoder.decode(d, ("192.0.2.1", 2055)).records) for d in datagrams)
        decoded = rate(n, time.perf_counter() - start)
        start = time.perf_counter()
        lines = [r.to_line() for d in datagrams[:200] for r in NetflowDecoder().decode(d, ("192.0.2.1", 1)).records]
        print(f"{name}: decode {decoded:,.0f} records/s ({floor / decoded:.1f}x slower than the floor); "
              f"decode+JSON line {rate(len(lines), time.perf_counter() - start):,.0f} records/s")


def wait_count(p: Platform, n: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while p.events.count() < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return time.monotonic()


def bench_netflow_listener(tmp: Path, n_flows: int) -> None:
    print(f"## netflow listener end to end ({n_flows} v9 flows over UDP)")
    p = platform(tmp, "netflow")
    listener = listeners.get("netflow")(p, ListenerConfig(udp=(Endpoint("127.0.0.1", 0),)))
    host, port = listener.start()[0].split("//")[1].rsplit(":", 1)
    datagrams = v9_datagrams(n_flows)
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i, d in enumerate(datagrams):
            sock.sendto(d, (host, int(port)))
            if i % 50 == 49:
                time.sleep(0.002)  # an exporter paces its datagrams; this keeps the socket buffer from overflowing
    end = wait_count(p, len(datagrams) * 40)
    stats = listener.stop()
    stored = p.events.count()
    listener_rate = rate(stored, end - start)
    print(f"listener: {stored} flows stored in {end - start:.1f} s = {listener_rate:,.0f} flows/s "
          f"(dropped {stats.dropped}, dead letters {stats.dead_lettered})")
    decoder = NetflowDecoder()
    lines = [r.to_line() for d in datagrams for r in decoder.decode(d, ("127.0.0.1", 1)).records]
    path = tmp / "flows.ndjson"
    path.write_text("\n".join(lines) + "\n")
    base = platform(tmp, "netflow-file")
    start = time.monotonic()
    summary = Ingestor(base, "netflow").ingest_file(str(path))
    seconds = time.monotonic() - start
    print(f"baseline cert ingest --parser netflow of the decoded lines: {summary.ingested} in {seconds:.1f} s = "
          f"{rate(summary.ingested, seconds):,.0f} flows/s; listener/baseline = "
          f"{listener_rate / rate(summary.ingested, seconds):.2f}")


def bench_syslog_listener(tmp: Path, corpora: Path, n: int) -> None:
    print(f"## syslog listener end to end ({n} messages over TCP, octet counting)")
    text = (corpora / "linux" / "fail2ban-samples" / "sshd").read_text(errors="replace")
    real = [line for line in text.splitlines() if " sshd[" in line and not line.startswith("#")]
    lines = [f"<38>{real[i % len(real)]} #{i}" for i in range(n)]  # distinct messages
    p = platform(tmp, "syslog")
    listener = listeners.get("syslog")(p, ListenerConfig(tcp=(Endpoint("127.0.0.1", 0),)))
    host, port = listener.start()[0].split("//")[1].rsplit(":", 1)
    start = time.monotonic()
    with socket.create_connection((host, int(port))) as conn:
        payload = b"".join(str(len(m.encode())).encode() + b" " + m.encode() for m in lines)
        conn.sendall(payload)
    deadline = time.monotonic() + 300
    while listener.sink.stats.received < n and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.02)
    end = time.monotonic()
    stats = listener.stop()
    listener_rate = rate(stats.received, end - start)
    print(f"listener: {stats.received} messages ({stats.ingested} events, {stats.dead_lettered} dead letters) in "
          f"{end - start:.1f} s = {listener_rate:,.0f} messages/s")
    path = tmp / "syslog.log"
    path.write_text("\n".join(lines) + "\n")
    base = platform(tmp, "syslog-file")
    start = time.monotonic()
    summary = Ingestor(base, "syslog").ingest_file(str(path))
    seconds = time.monotonic() - start
    print(f"baseline cert ingest --parser syslog of the same lines: {summary.read} in {seconds:.1f} s = "
          f"{rate(summary.read, seconds):,.0f} lines/s; listener/baseline = "
          f"{listener_rate / rate(summary.read, seconds):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=60_000)
    ap.add_argument("--messages", type=int, default=30_000)
    args = ap.parse_args()
    corpora = Settings().corpora_dir
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_decode(args.flows)
        bench_netflow_listener(tmp, args.flows)
        bench_syslog_listener(tmp, corpora, args.messages)


if __name__ == "__main__":
    main()
