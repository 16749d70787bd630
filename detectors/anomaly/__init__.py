"""Anomaly detectors: what no rule names, found by comparing aggregated behaviour with what is
usual (``cert.core.anomaly``). Importing the package registers one detector per module."""

from detectors.anomaly.rare_windows import RareWindowsBehaviour
from detectors.anomaly.volume import VolumeAnomaly

__all__ = ["RareWindowsBehaviour", "VolumeAnomaly"]
