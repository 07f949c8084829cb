"""The CLI's help reads like a Unix tool's: `--version`, `-h` everywhere, flags without a `<bool>` type,
list options in their form (`--filter COLUMN=VALUE`), arguments as `NAME` in the usage line, help texts
reflowed rather than broken where the docstring's lines end, and `--json` saying what it prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import typer.main
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from fakeapi import SampleApi
from syncsupport import config_document, pipeline_config, write_config

runner = CliRunner(env={"COLUMNS": "250"})
COMMANDS: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_version_prints_the_package_version() -> None:
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.output.strip() == f"batchsync {batchsync.__version__}"


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=lambda c: c[0] if c else "app")
def test_h_is_the_same_as_help_for_the_app_and_every_command(command: list[str]) -> None:
    short, long = invoke(*command, "-h"), invoke(*command, "--help")

    assert short.exit_code == long.exit_code == 0
    assert short.output == long.output and "Usage: batchsync" in short.output
    assert "-h" in short.output, "the help lists -h"


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=lambda c: c[0] if c else "app")
def test_flags_show_no_type_beside_them(command: list[str]) -> None:
    assert "<bool>" not in invoke(*command, "--help").output


def test_list_options_show_the_form_of_their_values() -> None:
    output = invoke("run", "--help").output

    assert "--filter" in output and "COLUMN=VALUE" in output and "<list[str]>" not in output
    assert "ID,ID" in output
    assert "--param" in output and "NAME=VALUE" in output


def usage_line(*command: str) -> str:
    output = invoke(*command, "-h").output
    return next(line.strip() for line in output.splitlines() if line.strip().startswith("Usage:"))


def test_the_usage_line_names_arguments_in_capitals() -> None:
    assert usage_line("run") == "Usage: batchsync run [OPTIONS] NAME"
    assert usage_line("status") == "Usage: batchsync status [OPTIONS] [NAME]"
    assert usage_line("validate") == "Usage: batchsync validate [OPTIONS]"
    assert usage_line() == "Usage: batchsync [OPTIONS] COMMAND [ARGS]..."


def test_help_texts_reflow_instead_of_breaking_where_the_docstring_lines_end() -> None:
    listing = invoke("--help").output
    line = next(line for line in listing.splitlines() if "retry-failed" in line)

    assert "whose record now syncs" in line and line.rstrip(" │").endswith("with the new reason."), line
    for name, command in COMMANDS.items():
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, f"{name}: a hard line break inside a paragraph"


def test_json_help_says_array_exactly_where_a_json_array_is_printed(
    tmp_path: Path, api: SampleApi, database: Path
) -> None:
    config_file = str(
        write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline_config(api.url)}))
    )
    invoke("run", "items", "-c", config_file)

    for command in (["run", "items"], ["status"], ["runs"], ["stats", "items"], ["errors", "items"]):
        printed = orjson.loads(invoke(*command, "-c", config_file, "--json").stdout)
        help_page = " ".join(invoke(command[0], "--help").output.split())
        if isinstance(printed, list):
            assert "Print a JSON array instead of tables." in help_page, command
        else:
            assert "Print one JSON object instead of tables." in help_page, command
