"""Anomaly detectors: what no rule names, found by comparing aggregated behaviour with what is usual
(``cert.core.anomaly`` is their contract). One module per detector, named after what it finds;
modules whose name starts with ``_`` are their helpers (domain names, models).

Importing the package imports every detector module, so each registers itself.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__, __name__ + "."):
    if not _info.name.rsplit(".", 1)[-1].startswith("_"):
        importlib.import_module(_info.name)
