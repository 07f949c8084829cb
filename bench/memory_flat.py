"""Peak memory of a sync as the collection grows: it must stay flat, because records are streamed a page
at a time and never held all at once.

    .venv/bin/python bench/memory_flat.py [--sizes 20000,300000]

Each size runs in a fresh process (peak RSS is per process) against the sample API in another process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from common import start_api

CHILD = """
import resource, sys
from pathlib import Path
import batchsync
from batchsync.demo import demo_config
result = batchsync.run("products", demo_config(sys.argv[1], Path(sys.argv[2])))
assert result.status is batchsync.RunStatus.SUCCEEDED, result.error
print(result.total_synced, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20000,300000")
    args = parser.parse_args()
    print(f"{'records':>10} {'peak RSS (MiB)':>15}")
    for size in (int(text) for text in args.sizes.split(",")):
        process, url = start_api(size)
        try:
            with tempfile.TemporaryDirectory() as workdir:
                output = subprocess.run(
                    [sys.executable, "-c", CHILD, url, str(Path(workdir) / "m.db")],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
        finally:
            process.terminate()
            process.wait()
        synced, peak_kib = int(output[0]), int(output[1])
        assert synced == size, f"synced {synced} of {size}"
        print(f"{size:>10,} {peak_kib / 1024:>15.0f}")


if __name__ == "__main__":
    main()
