"""Train the DGA detector's model (detectors/anomaly/models/dga.json + dga.npz) on the shared corpus.

Run: python bench/anomaly/train_dga.py [--data ../shared/corpora/anomaly/dga/dga_domains.csv.gz]

Reproducible: the split is fixed by each name's SHA-256, the solver's seed is fixed
(``detectors.anomaly._dga_model.SEED``) and the SHA-256 of the training file is recorded in the
model, so the same file gives the same coefficients (tests/detectors/test_anomaly_dga.py checks it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pandas as pd

from detectors.anomaly import _dga_model as dga

DATA = ROOT.parent / "shared" / "corpora" / "anomaly" / "dga" / "dga_domains.csv.gz"


def read_corpus(path: Path) -> pd.DataFrame:
    """The labelled names (``domain``, ``label`` dga/legit, ``family``) with the base family of
    each variant (``fobber_v1`` -> ``fobber``)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["base"] = frame["family"].str.replace(r"_v?\d$", "", regex=True)
    return frame


def train_file(path: Path, seed: int = dga.SEED) -> dga.DgaModel:
    frame = read_corpus(path)
    return dga.train(frame["domain"].tolist(), (frame["label"] == "dga").astype(int).tolist(),
                     data_sha256=dga.sha256_file(path), seed=seed,
                     meta={"data_file": path.name, "families": sorted(set(frame.loc[frame["label"] == "dga", "base"]))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=dga.MODEL_FILE)
    args = parser.parse_args()
    started = time.perf_counter()
    model = train_file(args.data)
    dga.save(model, args.out)
    print(f"{args.out}: {model.meta['train_names']} names ({model.meta['train_dga']} DGA), threshold "
          f"{model.threshold:.6f}, {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
