"""The character-level model of the DGA detector: hashed character n-grams of a registered
domain's label (``^label$``) and a logistic regression, trained by ``train`` and kept as two files
that load without pickle: ``dga.json`` (how names are vectorised, the threshold, the legitimate
names' profile, the training data's SHA-256 and the recipe) and ``dga.npz`` (the coefficients,
read with ``allow_pickle=False``; its SHA-256 is in the JSON).

The split is fixed by the names themselves (``bucket``: SHA-256 of the name, modulo 10), so a
retraining on the same file gives the same model: legitimate names in buckets 0-6 train, 7
calibrates the threshold, 8-9 test; DGA names in buckets 0-7 train, 8-9 test. Only names that are
their own registered domain train (a DGA name under a dynamic-DNS zone missing from the Public
Suffix List would teach the zone's name as DGA).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.anomaly._domains import entropy, normalise, registered_label, split

if TYPE_CHECKING:
    import numpy as np

FORMAT = 1
MODEL_DIR = Path(__file__).parent / "models"
MODEL_FILE = MODEL_DIR / "dga.json"
#: the defaults of the shipped model (bench/anomaly/train_dga.py)
NGRAMS = (1, 5)
N_FEATURES = 2**18
C = 10.0
SEED = 1405
#: false-positive rate on the calibration names that sets the threshold
CALIBRATION_FPR = 0.0005
TRAIN_LEGIT, CALIBRATION, TRAIN_DGA = range(0, 7), (7,), range(0, 8)
TEST = (8, 9)


class ModelError(Exception):
    """The model files are missing, altered or of another format."""


def text(label: str) -> str:
    """What the vectoriser reads: the label between start and end marks."""
    return f"^{label}$"


def label_of(name: object) -> str | None:
    """The label of a queried name's registered domain (``www.example.co.uk`` -> ``example``)."""
    normal = normalise(name)
    parts = split(normal) if normal else None
    return registered_label(parts[1], parts[2]) if parts else None


def bucket(name: str) -> int:
    return int(hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:8], 16) % 10


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _vectorizer(ngrams: tuple[int, int], n_features: int) -> Any:
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char", ngram_range=ngrams, n_features=n_features, alternate_sign=False,
                             norm="l2", lowercase=True, dtype=np.float64)


def bigrams(label: str) -> list[str]:
    marked = text(label)
    return [marked[i:i + 2] for i in range(len(marked) - 1)]


@dataclass(frozen=True)
class DgaModel:
    coef: np.ndarray
    intercept: float
    ngrams: tuple[int, int]
    n_features: int
    threshold: float
    #: log2 frequency of each bigram among the legitimate training labels, and the floor for the others
    bigram_log2: dict[str, float]
    bigram_floor: float
    #: medians of length, entropy and rarity of the legitimate training labels
    legit_profile: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)

    def scores(self, labels: Sequence[str]) -> np.ndarray:
        """The probability that each label is DGA-generated (0..1)."""
        import numpy as np

        if not labels:
            return np.zeros(0)
        x = _vectorizer(self.ngrams, self.n_features).transform([text(label) for label in labels])
        z = np.asarray(x @ self.coef, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def rarity(self, label: str) -> float:
        """How unusual the label's letter pairs are among legitimate names: the mean of -log2 of
        their frequency (higher is rarer)."""
        pairs = bigrams(label)
        return -sum(self.bigram_log2.get(p, self.bigram_floor) for p in pairs) / len(pairs)

    def describe(self, label: str) -> dict[str, float]:
        return {"length": float(len(label)), "entropy": round(entropy(label), 3),
                "rarity": round(self.rarity(label), 3)}


def fit(labels: Sequence[str], dga: Sequence[int], *, seed: int = SEED, ngrams: tuple[int, int] = NGRAMS,
        n_features: int = N_FEATURES, c: float = C) -> tuple[np.ndarray, float]:
    """The coefficients and intercept of the logistic regression on these labels (1: DGA)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = _vectorizer(ngrams, n_features).transform([text(label) for label in labels])
    clf = LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=seed)
    clf.fit(x, np.asarray(dga, dtype=np.int64))
    return np.asarray(clf.coef_[0], dtype=np.float64), float(clf.intercept_[0])


def threshold_for(legit_scores: np.ndarray, fpr: float) -> float:
    """The lowest score threshold that at most ``fpr`` of these legitimate scores reach."""
    import numpy as np

    ordered = np.sort(np.asarray(legit_scores, dtype=np.float64))[::-1]
    allowed = math.floor(fpr * len(ordered))
    if allowed >= len(ordered):
        return 0.0
    return float(np.nextafter(ordered[allowed], np.inf))


def _profile(labels: Iterable[str]) -> tuple[dict[str, float], float]:
    counts: Counter[str] = Counter()
    for label in labels:
        counts.update(bigrams(label))
    total = sum(counts.values()) or 1
    table = {p: round(math.log2(n / total), 4) for p, n in counts.items()}
    return table, round(math.log2(0.5 / total), 4)


def prepare(names: Sequence[str]) -> list[tuple[str | None, bool, int]]:
    """For each corpus name: its registered label, whether the name is its own registered
    domain, and its split bucket."""
    out = []
    for name in names:
        normal = normalise(name)
        parts = split(normal) if normal else None
        label = registered_label(parts[1], parts[2]) if parts else None
        out.append((label, bool(parts and not parts[0]), bucket(normal or "")))
    return out


def train(names: Sequence[str], dga: Sequence[int], *, data_sha256: str, seed: int = SEED,
          exclude: Sequence[bool] | None = None, ngrams: tuple[int, int] = NGRAMS, n_features: int = N_FEATURES,
          c: float = C, fpr: float = CALIBRATION_FPR, meta: dict[str, Any] | None = None) -> DgaModel:
    """The model of a labelled corpus (``dga`` 1/0 per name), on the fixed split; ``exclude``
    leaves names out of training and calibration (families held out by an evaluation)."""
    import numpy as np

    prepared = prepare(names)
    skip = exclude or [False] * len(names)
    train_labels, train_y, calibration, legit_train = [], [], [], []
    for (label, own, b), y, out in zip(prepared, dga, skip, strict=True):
        if label is None or out:
            continue
        if own and ((y and b in TRAIN_DGA) or (not y and b in TRAIN_LEGIT)):
            train_labels.append(label)
            train_y.append(int(y))
            if not y:
                legit_train.append(label)
        elif not y and b in CALIBRATION:
            calibration.append(label)
    coef, intercept = fit(train_labels, train_y, seed=seed, ngrams=ngrams, n_features=n_features, c=c)
    table, floor = _profile(legit_train)
    model = DgaModel(coef, intercept, ngrams, n_features, 0.0, table, floor, {})
    threshold = threshold_for(model.scores(calibration), fpr)
    described = [model.describe(label) for label in legit_train]
    profile = {k: float(np.median([d[k] for d in described])) for k in ("length", "entropy", "rarity")}
    info = {"format": FORMAT, "data_sha256": data_sha256, "seed": seed, "train_names": len(train_labels),
            "train_dga": int(sum(train_y)), "calibration_names": len(calibration), "calibration_fpr": fpr,
            "split": "SHA-256 of the name modulo 10: legit 0-6 train, 7 calibration, 8-9 test; DGA 0-7 train, "
                     "8-9 test; only names that are their own registered domain train",
            "model": f"HashingVectorizer(char {ngrams[0]}-{ngrams[1]}-grams of ^label$, {n_features} features, l2) "
                     f"+ LogisticRegression(liblinear, C={c})", **(meta or {})}
    return DgaModel(coef, intercept, ngrams, n_features, threshold, table, floor, profile, info)


def save(model: DgaModel, path: Path = MODEL_FILE) -> None:
    """Write ``path`` (JSON) and the coefficients beside it (``.npz``)."""
    import numpy as np

    weights = path.with_suffix(".npz")
    np.savez_compressed(weights, coef=model.coef.astype(np.float64), intercept=np.array([model.intercept]))
    doc = {**model.meta, "ngrams": list(model.ngrams), "n_features": model.n_features, "threshold": model.threshold,
           "legit_profile": model.legit_profile, "bigram_floor": model.bigram_floor,
           "bigram_log2": dict(sorted(model.bigram_log2.items())),
           "coefficients": {"file": weights.name, "sha256": sha256_file(weights)}}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")


def load(path: Path = MODEL_FILE) -> DgaModel:
    """The model of ``path``; ModelError when a file is missing, altered or of another format."""
    import numpy as np

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        weights = path.with_name(str(doc["coefficients"]["file"]))
        if sha256_file(weights) != doc["coefficients"]["sha256"]:
            raise ModelError(f"{weights}: its SHA-256 differs from the one recorded in {path.name}")
        if doc.get("format") != FORMAT:
            raise ModelError(f"{path}: model format {doc.get('format')!r}, expected {FORMAT}")
        with np.load(weights, allow_pickle=False) as npz:
            coef = np.asarray(npz["coef"], dtype=np.float64)
            intercept = float(npz["intercept"][0])
        ngrams = (int(doc["ngrams"][0]), int(doc["ngrams"][1]))
        if coef.shape != (int(doc["n_features"]),):
            raise ModelError(f"{weights}: {coef.shape[0]} coefficients, expected {doc['n_features']}")
        meta = {k: v for k, v in doc.items() if k not in ("bigram_log2", "legit_profile")}
        return DgaModel(coef, intercept, ngrams, int(doc["n_features"]), float(doc["threshold"]),
                        {str(k): float(v) for k, v in doc["bigram_log2"].items()}, float(doc["bigram_floor"]),
                        {str(k): float(v) for k, v in doc["legit_profile"].items()}, meta)
    except (OSError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path}: cannot load the DGA model: {exc}") from exc
