"""Partitioned pulls: one pull split into ranges of a time or id filter, each range a unit of work.

`ranges.py` cuts `partition: {start, end, step}` into half-open ranges [lo, hi) and renders each as a
`WorkUnit` with its own checkpoint (`pipeline/partition/lo..hi`); `run.py` runs them, up to the
pipeline's `concurrency` at once, under the pipeline's one lease and run row, and keeps the pipeline's
own checkpoint (the ranges done in this pass); `summary.py` turns the ranges' outcomes into one RunResult.
"""

from batchsync.engine.partitions.ranges import Range, ranges_of
from batchsync.engine.partitions.run import run_partitioned

__all__ = ["Range", "ranges_of", "run_partitioned"]
