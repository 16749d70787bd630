"""The ingest pipeline: raw records to ECS events to the event store, with checkpoints, the spool, dead
letters, the counters of ingest health, network listeners and bulk ingest over HTTP."""
