"""The documentation stays true: every example config and every YAML block with `pipelines:` in the docs
validates, every CLI command is in the README, every config key is in docs/configuration.md,
examples/sample-api.yaml really syncs the sample API, as the demo's "try next" message promises, and the
README's walk-throughs (first sync, lookup, fan-out) run as written against the sample API and print what
they show."""

from __future__ import annotations

import re
import shlex
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.config import Config, load_config, parse_config
from batchsync.demo import DEMO_PIPELINE, demo_config
from batchsync.models import RunStatus
from batchsync.sampleapi import Inventory, SampleApi

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
VENDORS = ROOT / "docs" / "vendors.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SAMPLE_API_EXAMPLE = ROOT / "examples" / "sample-api.yaml"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
COMMANDS = ["run", "status", "reset", "runs", "validate", "demo", "sample-api"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)
# What `batchsync sample-api --port 8765`, which the walk-throughs use, serves.
SAMPLE_API_URL, SAMPLE_API_ITEMS = "http://127.0.0.1:8765", 3000


def dummy_environment(text: str) -> dict[str, str]:
    """Every `${VAR}` the text references, set to a placeholder (and nothing else from the real env)."""
    return {name: "dummy" for name in _VARIABLE.findall(text)}


def pipeline_blocks() -> Iterator[Any]:
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for index, match in enumerate(_YAML_BLOCK.finditer(text)):
            block = match.group(1)
            parsed = yaml.safe_load(block)
            if isinstance(parsed, dict) and "pipelines" in parsed:
                line = text.count("\n", 0, match.start()) + 1
                yield pytest.param(block, id=f"{document.relative_to(ROOT)}:{line}:block{index}")


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_config_validates(example: Path) -> None:
    config = load_config(example, environ=dummy_environment(example.read_text(encoding="utf-8")))

    assert config.pipelines, f"{example.name} defines no pipelines"


@pytest.mark.parametrize("block", list(pipeline_blocks()))
def test_every_yaml_block_with_pipelines_in_the_docs_validates(block: str, tmp_path: Path) -> None:
    file = tmp_path / "batchsync.yaml"
    file.write_text(block, encoding="utf-8")

    config = load_config(file, environ=dummy_environment(block))

    assert config.pipelines


def test_the_docs_hold_yaml_blocks_with_pipelines() -> None:
    # Guards the block finder itself: if the fence pattern stopped matching, the test above would pass empty.
    assert len(list(pipeline_blocks())) >= 3


@pytest.mark.parametrize(
    "example", [path for path in EXAMPLES if path != SAMPLE_API_EXAMPLE], ids=lambda path: path.name
)
def test_every_vendor_example_is_shown_verbatim_in_vendors_md(example: Path) -> None:
    text = example.read_text(encoding="utf-8").rstrip("\n")

    assert text in VENDORS.read_text(encoding="utf-8"), f"docs/vendors.md and {example.name} differ"


def registered_commands() -> set[str]:
    return {
        command.name or (command.callback.__name__.replace("_", "-") if command.callback else "")
        for command in app.registered_commands
    }


def test_every_cli_command_is_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    commands = set(COMMANDS) | registered_commands()

    missing = sorted(command for command in commands if f"batchsync {command}" not in readme)

    assert not missing, f"README.md does not mention: {', '.join(missing)}"
    assert set(COMMANDS) <= registered_commands()


def model_types(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a field's annotation (through unions, Annotated, dicts, lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if typing.get_origin(annotation) is typing.Literal:
        return
    for argument in typing.get_args(annotation):
        yield from model_types(argument)


def config_keys(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every key a config file may use, as spelled in YAML (the alias where one is set, e.g. `in`)."""
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        for inner in model_types(field.annotation):
            keys |= config_keys(inner, seen)
    return keys


def test_every_config_key_is_in_configuration_md() -> None:
    reference = CONFIGURATION.read_text(encoding="utf-8")
    keys = config_keys(Config)

    missing = sorted(key for key in keys if f"`{key}`" not in reference)

    assert {"in", "header_format", "refresh_margin_seconds", "cursor_from_last_record"} <= keys
    assert not missing, f"docs/configuration.md does not document: {', '.join(missing)}"


def sample_api_document(base_url: str, database: Path) -> dict[str, Any]:
    document = yaml.safe_load(SAMPLE_API_EXAMPLE.read_text(encoding="utf-8"))
    document["database"] = f"sqlite:///{database}"
    document["pipelines"][DEMO_PIPELINE]["source"]["base_url"] = base_url
    return typing.cast(dict[str, Any], document)


def test_sample_api_example_is_the_demo_pipeline(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    example = parse_config(sample_api_document("http://127.0.0.1:1", database), environ={})
    demo = parse_config(demo_config("http://127.0.0.1:1", database), environ={})

    assert example.pipeline(DEMO_PIPELINE) == demo.pipeline(DEMO_PIPELINE)


def test_sample_api_example_syncs_the_sample_api(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=500), port=0) as api:
        file = tmp_path / "sample-api.yaml"
        file.write_text(yaml.safe_dump(sample_api_document(api.url, tmp_path / "sync.db")), encoding="utf-8")
        config = load_config(file, environ={})

        result = batchsync.run("products", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.counts.created == 500
    assert result.is_pass_complete


# --- the README's walk-throughs, run as written ---------------------------------------------------------


def readme_section(heading: str) -> str:
    """The README's text under `## heading`, up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def console_session(block: str) -> list[tuple[list[str], str]]:
    """The `$ ` commands of a console block (comments dropped), each with the output shown under it."""
    session: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            session.append((shlex.split(line[2:], comments=True), []))
        elif session:
            session[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in session]


def summary_facts(output: str) -> list[str]:
    """The output's lines outside tables, without what changes from run to run (durations, rates, run
    ids, and how many API calls went to pages fetched ahead past the end, which depends on how often
    the run had to wait for a page): what a reader of the walk-through relies on."""
    facts = []
    for line in output.splitlines():
        if not line.strip() or line[0] in "┏┃┡│└" or line.strip().startswith("run id "):
            continue
        line = re.sub(r" in \d+\.\d+s$|, [\d,]+ records/s$", "", line.rstrip())
        facts.append(re.sub(r"\b[\d,]+ API calls\b", "N API calls", line))
    return facts


def table_rows(output: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A Rich table's header, and the first line of each of its rows by the row's first cell."""
    header: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip()[1:-1].split(line.strip()[:1] or "|")]
        if line.startswith("┃") and not header:
            header = cells
        elif line.startswith("│") and cells[0]:
            rows[cells[0]] = dict(zip(header, cells, strict=True))
    return header, rows


def run_walkthrough(
    heading: str, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[list[str], str, Any]]:
    """Follow a README walk-through in `directory`, with the sample API `batchsync sample-api` serves
    running: its Python set-up, its config as `batchsync.yaml`, then each `batchsync` command of its
    console block. Returns each command with the output the README shows and the CLI's result."""
    section = readme_section(heading)
    configs = [block for block in fenced_blocks(section, "yaml") if "pipelines:" in block]
    assert len(configs) == 1, f"{heading}: expected one config, found {len(configs)}"
    [session] = fenced_blocks(section, "console")
    monkeypatch.chdir(directory)
    runner = CliRunner(env={"COLUMNS": "250"})
    with SampleApi(Inventory(size=SAMPLE_API_ITEMS), port=0) as api:
        for setup in fenced_blocks(section, "python"):
            exec(compile(setup, f"README.md ({heading})", "exec"), {})
        config = configs[0].replace(SAMPLE_API_URL, api.url)
        (directory / "batchsync.yaml").write_text(config, encoding="utf-8")
        results = []
        for command, documented in console_session(session):
            if command[0] == "batchsync":
                results.append((command, documented, runner.invoke(app, command[1:])))
    return results


def assert_shows_the_documented_facts(command: list[str], documented: str, result: Any) -> None:
    expected, actual = summary_facts(documented), summary_facts(result.stdout)
    remaining = iter(actual)
    missing = [fact for fact in expected if fact not in remaining]  # in the documented order
    assert not missing, f"`{' '.join(command)}` no longer prints {missing}; it printed:\n{result.stdout}"


def test_first_real_sync_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_walkthrough("A first real sync", tmp_path, monkeypatch)

    assert [command for command, _, _ in results] == [
        ["batchsync", "validate"],
        ["batchsync", "run", "products"],
        ["batchsync", "run", "products"],
    ]
    for command, documented, result in results:
        assert result.exit_code == 0, result.output
        assert_shows_the_documented_facts(command, documented, result)


def test_lookup_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run_walkthrough("Lookups: refreshing your own rows", tmp_path, monkeypatch)

    assert [command[:3] for command, _, _ in results] == [["batchsync", "run", "key_refresh"]] * 2
    for command, documented, result in results:
        assert result.exit_code == 0, result.output
        assert_shows_the_documented_facts(command, documented, result)


def test_targeted_sync_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [(command, documented, result)] = run_walkthrough(
        "Targeted sync: just these records", tmp_path, monkeypatch
    )

    assert command[:4] == ["batchsync", "run", "products", "--only"]
    assert result.exit_code == 1, result.output  # partial: one id is not in the sample inventory
    assert_shows_the_documented_facts(command, documented, result)


def test_fanout_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [(command, documented, result)] = run_walkthrough("Fan-out: one sync per account", tmp_path, monkeypatch)

    assert command == ["batchsync", "run", "bank_sync"]
    assert result.exit_code == 1, result.output  # partial: one account failed, as the README says
    assert_shows_the_documented_facts(command, documented, result)
    documented_header, documented_rows = table_rows(documented)
    header, rows = table_rows(result.stdout)
    assert header == documented_header
    assert rows.keys() == documented_rows.keys() == {"acc-1", "acc-2", "acc-3", "acc-5"}  # acc-4 is closed
    for entity, documented_row in documented_rows.items():
        row = rows[entity]
        for column in ("label", "status", "new/upd/same"):
            assert row[column] == documented_row[column], (entity, column, row, documented_row)
        # The README's table wraps the reason; its first line starts the real one.
        assert row["reason / error"].startswith(documented_row["reason / error"]), (entity, row)
    assert rows["acc-3"]["reason / error"] == "auto-sync is off"
    assert "answered 401" in rows["acc-5"]["reason / error"]  # the token the README gives it is refused
