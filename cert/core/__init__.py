"""The bottom of the core: settings, errors, the registry, TLP and PAP, ECS helpers, and the contracts the
other packages and the plug-ins share (Hit, Detector, Parser, the event-store interface). Imports nothing
of Vigie outside ``cert.core``."""
