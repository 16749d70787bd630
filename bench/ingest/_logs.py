"""Large log files with unique lines, made from the real Apache sample of the corpora."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

APACHE = Path("web") / "elastic-examples" / "apache_logs"


def apache_lines(corpora: Path, count: int | None = None) -> Iterator[bytes]:
    """The 10,000 sample lines cycled, each made unique by its ident field (``r<n>``), which the
    parser ignores: every line is a distinct event, as in a real log."""
    sample = (corpora / APACHE).read_bytes().splitlines()
    n = 0
    while count is None or n < count:
        ip, _, rest = sample[n % len(sample)].partition(b" ")
        _, _, rest = rest.partition(b" ")
        yield ip + b" r" + str(n).encode() + b" " + rest + b"\n"
        n += 1


def write_apache_file(corpora: Path, path: Path, *, lines: int | None = None, size: int | None = None) -> int:
    """Write ``lines`` lines, or lines up to ``size`` bytes; returns how many lines."""
    written = nbytes = 0
    with path.open("wb", buffering=1 << 20) as fh:
        for line in apache_lines(corpora, lines):
            if size is not None and nbytes + len(line) > size:
                break
            fh.write(line)
            nbytes += len(line)
            written += 1
    return written
