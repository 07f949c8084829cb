"""A writer process: a pull's batches mapped and written by a second process while the run's own goes
on fetching, so a fast API is not held to the speed of one interpreter doing both.

On a fast API, fetching and parsing pages and mapping and writing their records each keep one CPU busy;
threads cannot share that work (one interpreter lock), processes can. So once a pass is past its first
pages (`writer_process: auto`), the pass walker starts one (`process.WriterProcess`) and, once it is
ready, hands it every further chunk of records instead of committing it itself (`process.
OffloadedCommits`). The writer process (`child.serve`) routes and commits each chunk exactly as the run
would (engine/commits.py `LocalCommits`, on a connection of its own), in the order handed, each batch
with its checkpoint in one transaction, and sends back what it committed. Nothing else changes: the run
keeps its lease, its HTTP client and its page window; the one-transaction guarantee is the database's.

A few chunks at most are on their way at once (`MAX_PENDING`), so memory stays flat and a stop, a
failure or a crash loses no more than the run itself would: chunks handed over are committed before a
stop or a failure is reported, Ctrl+C leaves at once (uncommitted chunks are simply not), and a writer
process whose run died goes with it (on Linux at once; elsewhere when it next reads from the run).
"""
