"""Network listener plug-ins (syslog, NetFlow/IPFIX), each registering in ``cert.pipeline.listeners.listeners``."""
