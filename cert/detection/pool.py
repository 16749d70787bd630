"""Detection over several processes, with the hits of one: ``cert detect --workers N``.

Matching an event against thousands of Sigma rules or a million indicators is pure work on that
event; turning matches into hits is not (correlation windows, suppression keys, provenance from
the database, dead letters). So a detector that sets ``Detector.parallel`` is split: its
``match`` runs in forked worker processes over batches of the events, and its ``conclude`` runs
here, in batch order, exactly as ``detect`` would have. Detectors without the split run here in
full, while the workers match.

The workers are forked after the events are loaded and the detectors built (rules compiled,
indicator index loaded): they inherit both without copying or re-reading anything, and the
garbage collector is frozen first so that it does not touch (and so copy) the inherited pages.
Workers only read; every write (alerts, dead letters) happens in the main process.

The pool is a ``concurrent.futures.ProcessPoolExecutor`` over the fork context: its shutdown
waits for workers that have finished their work instead of terminating them mid-lock, and a
worker that dies (killed, out of memory) breaks the pool, which ends the run with
``DetectionWorkerDied`` instead of waiting for a result that will never come.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cert.core.contracts import Detector, Hit, RuleOverrides
from cert.core.ecs import Event
from cert.core.errors import DetectionWorkerDied

# What the forked workers inherit: (detectors, events, batch size). Set only around a pool's life.
_JOB: tuple[Sequence[Detector], Sequence[Event], int] | None = None


def _match_batch(index: int) -> list[Any]:
    assert _JOB is not None, "worker started outside detect_parallel"
    engines, events, size = _JOB
    batch = events[index * size:(index + 1) * size]
    return [e.match(batch) if e.parallel else None for e in engines]


def detect_parallel(engines: Sequence[Detector], events: Sequence[Event], overrides: RuleOverrides,
                    batch_size: int = 5000, workers: int = 2) -> list[tuple[Sequence[Event], list[Hit]]]:
    """Each consecutive batch with the hits ``detect_batch`` would give for it, with the matching
    of the parallel detectors spread over ``workers`` processes."""
    global _JOB
    for engine in engines:
        engine.configure(overrides)
    batches = (len(events) + batch_size - 1) // batch_size
    out: list[tuple[Sequence[Event], list[Hit]]] = []
    done = 0
    _JOB = (engines, events, batch_size)
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        try:
            for i, matched in enumerate(pool.map(_match_batch, range(batches))):
                batch = events[i * batch_size:(i + 1) * batch_size]
                found: list[Hit] = []
                for engine, result in zip(engines, matched, strict=True):
                    found.extend(engine.conclude(batch, result) if engine.parallel else engine.detect(batch))
                out.append((batch, found))
                done = i + 1
        except BrokenProcessPool as exc:
            raise DetectionWorkerDied(
                f"a detection worker process died (killed, or out of memory) with {batches - done} of {batches} "
                "batch(es) of events left to match; no alert was recorded for this run: run it again, with fewer "
                "--workers if memory is short"
            ) from exc
        finally:
            # the results have all been read, or the run has failed: the workers are idle, gone, or
            # finishing their current batch; batches not yet started are dropped
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _JOB = None
        gc.unfreeze()
    return out
