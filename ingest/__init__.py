"""Ingest: parsers (and, later, transports) that turn raw logs and flows into ECS events."""
