"""Web attack detection on access logs with the field's own tools: ModSecurity (libmodsecurity 3,
with the libinjection SQL injection and XSS tokenizer inside it) running the OWASP Core Rule Set
and Vigie's access-log rules (``rules/modsecurity``), plus scanning by behaviour.

Importing the package registers the detector (``detector``); ``engine`` and ``request`` are its
helpers.
"""

from detectors.waf.detector import WebAttackDetector

__all__ = ["WebAttackDetector"]
