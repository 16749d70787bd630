"""Parser plug-ins: one module per format, each registering itself in ``cert.pipeline.ingestor.parsers``."""
