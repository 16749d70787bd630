"""Anomaly detectors: what no rule names, found by comparing aggregated behaviour with what is
usual (``cert.core.anomaly``). One module per detector, named after what it finds; importing the
package registers them."""

from detectors.anomaly.beacon import BeaconDetector
from detectors.anomaly.scan import ScanDetector

__all__ = ["BeaconDetector", "ScanDetector"]
