"""Detection as the core runs it: detection runs over the event store, several processes, scheduled hunts,
the analysts' rule settings, the indicator store, and the one place hits become alerts."""
