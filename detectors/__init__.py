"""Detection engines: one package per engine, each registering its plug-ins in the core's
registries (``cert.core.contracts.detectors``, ``file_scanners``) when imported.

``load_plugins(["detectors"])`` imports each engine package; a package's ``__init__`` imports
the modules that register, the other modules are the engine's helpers.
"""
