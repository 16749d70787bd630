"""Parser plug-ins: one module per format, each registering itself in ``cert.ingestion.parsers``."""
