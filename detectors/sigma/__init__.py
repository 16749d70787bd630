"""The Sigma engine: rules loaded with pySigma, matched by a compiled engine, correlations, hunts.

Importing the package registers its detector (``detector``); the other modules are its helpers.
"""

from detectors.sigma.detector import SigmaDetector

__all__ = ["SigmaDetector"]
