"""Detector plug-ins: one module per engine, each registering itself in ``cert.detection.run.detectors``.

Modules whose name starts with ``_`` are helpers, not plug-ins.
"""
