"""Vigie's core, in packages read bottom up: ``core`` (settings, contracts), ``storage``,
``constituency`` and ``enrichment``, ``runtime`` and ``accounts``, ``pipeline`` and
``detection``, ``incidents``, ``response`` and ``sharing``, then ``cli`` and ``demo`` on top
(``tests/test_architecture.py`` holds the order).

Nothing in this package imports ``web``, ``ingest``, ``detectors`` or ``playbooks``; those plug
in through the registries of :mod:`cert.core.registry`.
"""

__version__ = "0.1.0"
