#!/usr/bin/env python3
"""Fetch the third-party test corpora from their public sources, at the pinned commits, into
a folder laid out like ../shared/corpora (the default of the ``corpora_dir`` setting).

Usage: python scripts/fetch_corpora.py [--dest ../shared/corpora] [--only NAME ...]

Each source is a GitHub repository at a fixed commit; the script downloads its tarball once,
extracts the listed sub-paths, and writes SOURCES.txt with the origin and licence of each.
Nothing is copied into the Vigie repository itself. Needs network access to github.com.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    commit: str
    licence: str
    # (path inside the repository, destination inside the corpora folder)
    paths: tuple[tuple[str, str], ...]


SOURCES = (
    Source("sigma", "SigmaHQ/sigma", "8eaafff1f2845a696050e05e72ba1140ee190698", "DRL-1.1",
           (("rules", "sigma/rules"), ("rules-emerging-threats", "sigma/rules-emerging-threats"),
            ("rules-threat-hunting", "sigma/rules-threat-hunting"), ("regression_data", "sigma/regression_data"),
            ("LICENSE", "sigma/LICENSE"), ("README.md", "sigma/README.md"))),
    Source("evtx", "mdecrevoisier/EVTX-to-MITRE-Attack", "8119420d43bc0163200d64a733a80ad6e9cacf90", "CC0-1.0",
           (("", "evtx/evtx-to-mitre-attack"),)),
    Source("suricata", "FrankHassanabad/suricata-sample-data", "2d94c5d73f0d7b652b2adc13b81806048d08ba18", "MIT",
           (("", "suricata/frankhassanabad-suricata-sample-data"),)),
    Source("zeek-brim", "brimdata/zed-sample-data", "8da0758e1ee1a8f94895d640a7646fd2c27ca803", "CC-BY-SA-4.0",
           (("zeek-default", "zeek/brimdata-zed-sample-data/zeek-default"),
            ("zeek-json", "zeek/brimdata-zed-sample-data/zeek-json"),
            ("LICENSE", "zeek/brimdata-zed-sample-data/LICENSE"))),
    Source("zeek-btest", "zeek/zeek", "a13de64fbbdb01f90961c04719b308fbbb6d199e", "BSD-3-Clause",
           (("testing/btest/Baseline", "zeek/zeek-btest-baselines"), ("COPYING", "zeek/zeek-btest-baselines/COPYING"))),
    Source("fail2ban", "fail2ban/fail2ban", "deffcbcd1712a3a0cbd79c1da324096ebf36d306", "GPL-2.0",
           (("fail2ban/tests/files/logs", "linux/fail2ban-samples"), ("COPYING", "linux/fail2ban-samples/COPYING"))),
    Source("apache", "elastic/examples", "6d86454ebb7a850bcd7e80abe86fe683370018a6", "Apache-2.0",
           (("Common Data Formats/apache_logs/apache_logs", "web/elastic-examples/apache_logs"),)),
    Source("misp-taxonomies", "MISP/misp-taxonomies", "7591c551cce82552b9b21773e05f4a50bccfdfac", "CC0/BSD-2-Clause",
           (("tlp", "misp/taxonomies/tlp"), ("PAP", "misp/taxonomies/PAP"), ("rsit", "misp/taxonomies/rsit"),
            ("LICENSE.md", "misp/taxonomies/LICENSE.md"))),
    Source("pymisp", "MISP/PyMISP", "99a1c797dd898470575d37ebab1eace6f12aded8", "BSD-2-Clause",
           (("tests/mispevent_testfiles", "misp/pymisp-testfiles"), ("LICENSE", "misp/pymisp-testfiles/LICENSE"))),
)


def fetch(src: Source, dest: Path) -> int:
    url = f"https://codeload.github.com/{src.repo}/tar.gz/{src.commit}"
    print(f"{src.name}: downloading {src.repo}@{src.commit[:12]}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=300) as resp:
        data = resp.read()
    written = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            inner = PurePosixPath(*PurePosixPath(member.name).parts[1:])  # drop "<repo>-<commit>/"
            for prefix, target in src.paths:
                p = PurePosixPath(prefix) if prefix else PurePosixPath()
                if prefix and inner != p and p not in inner.parents:
                    continue
                rel = inner.relative_to(p) if prefix else inner
                out = dest / target / rel if str(rel) != "." else dest / target
                if ".." in out.parts:
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                fh = tar.extractfile(member)
                if fh is not None:
                    out.write_bytes(fh.read())
                    written += 1
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    ap.add_argument("--only", nargs="*", choices=[s.name for s in SOURCES])
    args = ap.parse_args()
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    lines = []
    for src in SOURCES:
        if args.only and src.name not in args.only:
            continue
        n = fetch(src, dest)
        lines.append(f"{src.name}\t{src.repo}@{src.commit}\t{src.licence}\t{n} files")
        print(lines[-1], file=sys.stderr)
    (dest / "SOURCES.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
