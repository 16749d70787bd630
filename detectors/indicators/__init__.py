"""The indicator engine: events matched against the indicator store (kept in the core, read
through ``cert.detection.indicators.store``) by an in-memory index and a compiled scanner.

Importing the package registers its detector (``detector``); the other modules are its helpers.
"""

from detectors.indicators.detector import IndicatorDetector

__all__ = ["IndicatorDetector"]
