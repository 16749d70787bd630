"""Vigie core: configuration, event schema, stores, cases, sharing and CLI.

Nothing in this package imports ``web``, ``ingest`` or ``detectors``; those plug in
through the registries in :mod:`cert.core.registry`.
"""

__version__ = "0.1.0"
