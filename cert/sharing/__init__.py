"""Sharing with partner CERTs. TLP is enforced on everything that leaves."""
