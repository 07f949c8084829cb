"""The shape docs/architecture.md draws, held against the code: where the source kind is decided, where
database errors are translated, how big the engine's pieces may grow, and what the product ships of the
sample API. Each limit failing here is a design question, not a style nit: read the architecture page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import batchsync

PACKAGE = Path(batchsync.__file__).parent
MAX_FUNCTION_LINES = 50
MAX_CLASS_LINES = 250


def sources(*parts: str) -> list[Path]:
    """The package's modules under `parts` (a module or a folder)."""
    found: list[Path] = []
    for part in parts:
        path = PACKAGE / part
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def lines_matching(pattern: str) -> list[str]:
    compiled = re.compile(pattern)
    return [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sources(".")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if compiled.search(line)
    ]


def test_only_the_plan_factory_tests_the_kind_of_source() -> None:
    hits = lines_matching(r"isinstance\([^)]*SourceConfig")
    assert hits and {hit.split(":")[0] for hit in hits} == {"engine/plans/__init__.py"}


def test_sqlalchemy_errors_are_translated_in_one_module() -> None:
    translating = {hit.split(":")[0] for hit in lines_matching(r"SQLAlchemyError|sqlalchemy\.exc")}
    assert translating == {"database.py"}
    assert len(lines_matching(r"getattr\(exc, [\"']orig[\"']")) == 1


def test_the_engine_fanout_and_operations_stay_small_enough_to_read() -> None:
    too_big = []
    for path in sources("engine", "fanout", "operations.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
                if size > limit:
                    too_big.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {size} lines")
    assert too_big == []
    assert len((PACKAGE / "engine" / "run.py").read_text().splitlines()) < 250


def shipped_sample_api() -> list[Path]:
    return sources("sampleapi") if (PACKAGE / "sampleapi").is_dir() else sources("sampleapi.py")


def test_the_fault_switches_of_the_fake_api_stay_in_the_tests() -> None:
    assert shipped_sample_api()
    assert not lines_matching(r"\bFaultOptions\b|\bFailNth\b|\bKeyService\b")


def test_the_product_ships_a_small_sample_api() -> None:
    assert sum(len(path.read_text().splitlines()) for path in shipped_sample_api()) < 500
