"""schemathesis hooks for tests/web/test_api_schemathesis.py (loaded by the CLI through
SCHEMATHESIS_HOOKS): an NDJSON body (POST /api/v1/events) is text on the wire, as text/plain."""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
