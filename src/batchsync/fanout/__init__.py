"""Fan-out: one child sync per eligible entity (e.g. per active, non-demo user with auto-sync providers).

Entities come from a local table or an API list; declared rules decide who is eligible, and an entity
with nothing to sync is skipped with a reason, never counted as a failure (`entities.py`). Each eligible
entity's children are units of work of the engine (`children.py`), synced one after another with their
own checkpoints (`pipeline/entity/child`); entities run one at a time or up to `concurrency` at once, and
one entity's failure never stops the others (`run.py`). The parent checkpoint lists the entities done,
so an interrupted fan-out resumes with the rest; `summary.py` turns the outcomes into one RunResult.
"""

from batchsync.fanout.run import run_fanout

__all__ = ["run_fanout"]
