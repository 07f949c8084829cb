"""The sync engine: runs one unit of work pass by pass, committing each batch together with its checkpoint.

`unit.py` is a unit of work as a value (one pass of one pipeline or fan-out child, from its checkpoint),
`run.py` runs one (prepare, write its batches, the result), `launch.py` runs a pipeline as a run of its
own (its lease and its row), `plans/` holds what differs per kind of source, `starting.py` decides where
a pass starts, `passes.py` and `walk.py` page through a pull's pass,
`batches.py` commits one batch (rows, dead letters, checkpoint: one transaction), `fetcher.py` fetches
the next page while the current one is written.
"""

import typing

from batchsync import exports as _exports

if typing.TYPE_CHECKING:  # the names as type checkers and readers see them; loaded on first use below
    from batchsync.engine.launch import run_pipeline, run_targeted
    from batchsync.engine.options import Progress, ProgressCallback, RunOptions
    from batchsync.engine.run import run_unit
    from batchsync.engine.unit import WorkUnit

# Loaded when first used, so importing one engine module (the writer process's) imports no other
# (exports.py says why).
_WHERE = {
    "Progress": ("batchsync.engine.options", "Progress"),
    "ProgressCallback": ("batchsync.engine.options", "ProgressCallback"),
    "RunOptions": ("batchsync.engine.options", "RunOptions"),
    "WorkUnit": ("batchsync.engine.unit", "WorkUnit"),
    "run_pipeline": ("batchsync.engine.launch", "run_pipeline"),
    "run_targeted": ("batchsync.engine.launch", "run_targeted"),
    "run_unit": ("batchsync.engine.run", "run_unit"),
}
__getattr__ = _exports.loader("batchsync.engine", globals(), _WHERE)

__all__ = [
    "Progress",
    "ProgressCallback",
    "RunOptions",
    "WorkUnit",
    "run_pipeline",
    "run_targeted",
    "run_unit",
]
