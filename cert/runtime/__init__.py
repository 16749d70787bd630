"""The running platform built from the settings (event store, database, job queue) and the job queues and
worker that run background work."""
