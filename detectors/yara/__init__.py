"""The YARA engine: rules from ``rules/yara`` compiled once per content, run on event payloads
(a detector) and on files (a file scanner for the watched folder and case uploads).

Importing the package registers both (``payloads`` and ``files``); ``scan`` is their helper.
"""

from detectors.yara.files import YaraFileScanner
from detectors.yara.payloads import YaraPayloadDetector

__all__ = ["YaraFileScanner", "YaraPayloadDetector"]
