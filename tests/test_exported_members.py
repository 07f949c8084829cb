"""`batchsync.__all__` is the public API, exactly: every name it lists exists, every public name the
package defines is listed, and the list is the one below, so adding or removing a public name is a change
someone makes on purpose (and mentions in the release notes), never a side effect of an import."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from types import ModuleType

import batchsync

PUBLIC_API = {
    # errors.py: the whole tree, so callers can catch any branch of it
    "BatchsyncError",
    "CheckpointError",
    "ConfigError",
    "PaginationError",
    "PermanentHttpError",
    "QuotaExhaustedError",
    "RecordError",
    "RunConflictError",
    "SinkError",
    "SourceError",
    "TransientHttpError",
    # configuration
    "Config",
    "load_config",
    "parse_config",
    # running, and what a run says
    "run",
    "retry_failed",
    "RunOptions",
    "Progress",
    "RunResult",
    "RunStatus",
    "Trigger",
    "WriteCounts",
    "Checkpoint",
    "RecordFailure",
    # looking at pipelines
    "status",
    "PipelineStatus",
    "stats",
    "PipelineStats",
    "history",
    "dead_letters",
    "reset",
    # python sources
    "SourcePage",
}


def test_all_lists_the_public_api_once() -> None:
    assert set(batchsync.__all__) == PUBLIC_API
    assert len(batchsync.__all__) == len(PUBLIC_API)


def test_every_name_in_all_exists() -> None:
    missing = [name for name in batchsync.__all__ if not hasattr(batchsync, name)]

    assert missing == []


def test_every_public_name_the_package_defines_is_in_all() -> None:
    # Submodules become attributes of the package as they are imported; they are not API of their own.
    defined = {
        name
        for name, value in vars(batchsync).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }

    assert defined - set(batchsync.__all__) == set()


def test_star_import_gives_exactly_the_public_api() -> None:
    namespace: dict[str, object] = {}
    exec("from batchsync import *", namespace)

    assert set(namespace) - {"__builtins__"} == PUBLIC_API


def test_version_is_the_installed_distributions() -> None:
    assert batchsync.__version__ == importlib.metadata.version("batchsync")


def test_the_public_names_are_the_modules_own_and_unknown_ones_are_attribute_errors() -> None:
    from batchsync import operations
    from batchsync.engine import options

    assert batchsync.run is operations.run and batchsync.RunOptions is options.RunOptions
    try:
        batchsync.no_such_name  # noqa: B018 (the lookup is the test)
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must be an AttributeError")


def test_the_writer_process_imports_only_the_write_path() -> None:
    # Loaded on first use (batchsync/exports.py): the writer process's module pulls in neither the HTTP
    # client, the engine's run machinery, nor the service, which cost it about 10 MB and 0.2 s.
    code = (
        "import sys, batchsync.engine.offload.child; "
        "print(sorted(m for m in ('httpx', 'batchsync.engine.launch', 'batchsync.operations', "
        "'batchsync.service', 'typer') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"
