"""The sync engine: runs one pipeline pass by pass, committing each batch together with its checkpoint.

`run.py` drives a run (where to start, passes, the result), `walk.py` pages through one pass, `batches.py`
commits one batch (rows, dead letters, checkpoint: one transaction), `fetcher.py` fetches the next page
while the current one is written.
"""

from batchsync.engine.options import Progress, ProgressCallback, RunOptions
from batchsync.engine.run import run_pipeline, run_targeted

__all__ = ["Progress", "ProgressCallback", "RunOptions", "run_pipeline", "run_targeted"]
