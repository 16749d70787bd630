"""Benchmark input files of every kind Vigie reads in volume, with unique lines, at a requested
number of lines or bytes.

    python bench/ingest/corpora.py KIND OUT (--lines N | --mb M) [--corpora DIR]

Every line is unique, so deterministic event ids never merge two of them, and every kind follows
one steady clock (``_eve_records.START``, one line per millisecond). The kinds, and the parser
that reads each (``PARSERS``):

- ``eve``: Suricata EVE with every common record type. The alerts are the real alerts of
  suricata-sample-data; the other types (flow, netflow, dns query and answer in the version 2
  format, http, tls, fileinfo, anomaly, ssh, smtp, stats) are generated from the layout Suricata
  documents, the corpora having none (see ``_eve_records``).
- ``zeek-tsv`` and ``zeek-json``: the Zeek logs of brimdata's zed-sample-data (WRCCDC 2018: dns,
  ssl, x509, rdp, ntlm, kerberos, smb, dce_rpc, smtp, ssh, ftp, ntp, snmp, notice, weird...) and
  the conn log of the CTU-Normal-40 capture (anomaly/network; its two label columns left out),
  cycled in blocks per log type (TSV: each block under its own header, as a rotated and
  concatenated log), ``ts`` on the steady clock, each ``uid`` suffixed with its round. The JSON
  rendering is Zeek's ``LogAscii::use_json`` with epoch timestamps and ``_path``.
- ``syslog``: the real sshd and PAM lines of fail2ban's samples, each with its time on the
  steady clock and its own process id (auth.log as rsyslog writes it, RFC 3164 header).
- ``windows``: the records of the EVTX attack corpus as ``evtx_dump -o jsonl`` writes them, each
  with its own EventRecordID and SystemTime on the steady clock.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _eve_records import START, STEP, eve_lines

from cert.core.config import load_settings

PARSERS = {"eve": "suricata.eve", "zeek-tsv": "zeek", "zeek-json": "zeek", "syslog": "linux.auth",
           "windows": "windows.json"}
ZEEK = Path("zeek") / "brimdata-zed-sample-data" / "zeek-default"
ZEEK_CONN = Path("anomaly") / "network" / "zeek_conn_ctu-normal-40_day1.labeled.log.gz"
#: rows per block of each log type (a mix close to a sensor's: conn and dns most)
ZEEK_BLOCKS = {"conn": 400, "dns": 300, "ssl": 150, "x509": 40, "weird": 40, "notice": 20, "rdp": 20, "ntlm": 20,
               "kerberos": 10, "smb_mapping": 10, "smb_files": 10, "dce_rpc": 10, "smtp": 20, "ssh": 10, "ftp": 10,
               "ntp": 20, "snmp": 10, "software": 10, "dpd": 10, "ocsp": 20}
FAIL2BAN = Path("linux") / "fail2ban-samples"
SYSLOG_SAMPLES = ("sshd", "pam-generic")
SYSLOG_LINE = re.compile(r"^[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d (\S+) ([\w.\-/]+?)(?:\[\d+\])?: (.+)$")
EVTX = Path("evtx") / "evtx-to-mitre-attack"


def _clock(n: int) -> datetime:
    return START + n * STEP


# -- Zeek ------------------------------------------------------------------------------------------
class ZeekLog:
    """One TSV log of the corpora: its header fields and types, and its rows (values as text)."""

    def __init__(self, path: Path, drop: tuple[str, ...] = ()) -> None:
        self.path_name = ""
        self.fields: list[str] = []
        self.types: list[str] = []
        self.rows: list[list[str]] = []
        with gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.startswith("#path\t"):
                    self.path_name = line.split("\t", 1)[1]
                elif line.startswith("#fields\t"):
                    self.fields = line.split("\t")[1:]
                elif line.startswith("#types\t"):
                    self.types = line.split("\t")[1:]
                elif line and not line.startswith("#"):
                    self.rows.append(line.split("\t"))
        keep = [i for i, f in enumerate(self.fields) if f not in drop]
        self.fields = [self.fields[i] for i in keep]
        self.types = [self.types[i] for i in keep]
        self.rows = [[row[i] for i in keep] for row in self.rows if len(row) >= len(keep)]
        self.ts = self.fields.index("ts")
        self.uid = self.fields.index("uid") if "uid" in self.fields else None

    def header(self) -> bytes:
        return ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
                f"#path\t{self.path_name}\n#fields\t" + "\t".join(self.fields) + "\n#types\t"
                + "\t".join(self.types) + "\n").encode("utf-8", "surrogateescape")


def zeek_logs(corpora: Path) -> list[ZeekLog]:
    logs = [ZeekLog(corpora / ZEEK_CONN, drop=("label", "detailedlabel"))]
    logs += [ZeekLog(corpora / ZEEK / f"{name}.log.gz") for name in ZEEK_BLOCKS if name != "conn"]
    return [log for log in logs if log.rows]


def _zeek_rows(corpora: Path) -> Iterator[tuple[ZeekLog, list[str] | None]]:
    """(log, row) without end, the row's ts and uid made unique; (log, None) opens a block."""
    logs, n, round_ = zeek_logs(corpora), 0, 0
    while True:
        for log in logs:
            yield log, None
            size = ZEEK_BLOCKS[log.path_name]
            for i in range(round_ * size, (round_ + 1) * size):
                row = list(log.rows[i % len(log.rows)])
                row[log.ts] = f"{_clock(n).timestamp():.6f}"
                if log.uid is not None and row[log.uid] != "-":
                    row[log.uid] += f"r{round_}"
                n += 1
                yield log, row
        round_ += 1


def zeek_tsv_lines(corpora: Path) -> Iterator[tuple[bytes, bool]]:
    for log, row in _zeek_rows(corpora):
        if row is None:
            yield log.header(), False
        else:
            yield "\t".join(row).encode("utf-8", "surrogateescape") + b"\n", True


def _zeek_value(kind: str, text: str) -> Any:
    if kind.startswith(("set[", "vector[")):
        inner = kind[kind.index("[") + 1 : -1]
        return [] if text == "(empty)" else [_zeek_value(inner, part) for part in text.split(",")]
    if kind in ("time", "interval", "double"):
        return float(text)
    if kind in ("count", "int", "port"):
        return int(text)
    if kind == "bool":
        return text == "T"
    return "" if text == "(empty)" else text


def zeek_json_lines(corpora: Path) -> Iterator[tuple[bytes, bool]]:
    for log, row in _zeek_rows(corpora):
        if row is None:
            continue
        rec: dict[str, Any] = {"_path": log.path_name}
        for name, kind, text in zip(log.fields, log.types, row, strict=True):
            if text != "-":
                rec[name] = _zeek_value(kind, text)
        yield orjson.dumps(rec) + b"\n", True


# -- syslog, Windows ------------------------------------------------------------------------------------
def syslog_lines(corpora: Path) -> Iterator[tuple[bytes, bool]]:
    samples: list[tuple[str, str, str]] = []  # host, program, message
    for name in SYSLOG_SAMPLES:
        for line in (corpora / FAIL2BAN / name).read_text(encoding="utf-8", errors="replace").splitlines():
            match = SYSLOG_LINE.match(line)
            if match:
                samples.append((match[1], match[2], match[3]))
    n = 0
    while True:
        host, program, message = samples[n % len(samples)]
        at = _clock(n)
        stamp = f"{at:%b} {at.day:2d} {at:%H:%M:%S}"
        yield f"{stamp} {host} {program}[{2000 + n % 1000}]: {message}\n".encode(), True
        n += 1


def windows_lines(corpora: Path) -> Iterator[tuple[bytes, bool]]:
    from cert.core.parser import Unreadable, parsers
    from cert.core.registry import load_plugins

    load_plugins(["ingest.parsers"])
    evtx = parsers.get("windows.evtx")()
    records = [orjson.loads(item[1]) for path in sorted((corpora / EVTX).rglob("*.evtx"))
               for item in evtx.read(str(path)) if not isinstance(item, Unreadable)]
    n = 0
    while True:
        rec = records[n % len(records)]
        system = rec["Event"]["System"]
        system["EventRecordID"] = str(n + 1)
        system["TimeCreated"] = {"#attributes": {"SystemTime": _clock(n).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")}}
        yield orjson.dumps(rec) + b"\n", True
        n += 1


def _eve(corpora: Path) -> Iterator[tuple[bytes, bool]]:
    return ((line, True) for line in eve_lines(corpora))


KINDS = {"eve": _eve, "zeek-tsv": zeek_tsv_lines, "zeek-json": zeek_json_lines, "syslog": syslog_lines,
         "windows": windows_lines}


def write(kind: str, corpora: Path, path: Path, *, lines: int | None = None, size: int | None = None) -> int:
    """Write ``lines`` records, or records up to ``size`` bytes (header lines of Zeek TSV
    included in the size, not in the count); returns how many records."""
    if (lines is None) == (size is None):
        raise ValueError("give lines or size")
    written = nbytes = 0
    with path.open("wb", buffering=1 << 20) as fh:
        for data, is_record in KINDS[kind](corpora):
            if (lines is not None and written >= lines) or (size is not None and nbytes + len(data) > size):
                break
            fh.write(data)
            nbytes += len(data)
            written += is_record
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("out", type=Path)
    size = ap.add_mutually_exclusive_group(required=True)
    size.add_argument("--lines", type=int, help="this many records")
    size.add_argument("--mb", type=float, help="records up to this many MiB")
    ap.add_argument("--corpora", type=Path, default=None, help="default: the corpora_dir setting")
    args = ap.parse_args()
    corpora = args.corpora or load_settings().corpora_dir
    count = write(args.kind, corpora, args.out, lines=args.lines,
                  size=None if args.mb is None else int(args.mb * 1024 * 1024))
    print(f"{args.out}: {count:,} {args.kind} records, {args.out.stat().st_size:,} bytes; "
          f"cert ingest --parser {PARSERS[args.kind]}")


if __name__ == "__main__":
    main()
