"""How the CLI's commands read in `--help`: the conventions of Unix tools, where Typer's defaults differ.

`cli.py` declares its commands with `cls=Command` and its app with `cls=Group`. Together they give:
arguments as `NAME` / `[NAME]` in the usage line (this Typer writes `{name}`), flags without a `<bool>`
type beside them (a flag takes no value), and help texts reflowed to the terminal's width, so a line
break in a docstring never breaks a sentence on screen.
"""

from __future__ import annotations

import inspect
from typing import Any

# Typed with typer's Context, a subclass of the click Context these methods receive (this Typer vendors
# click as a private module; older ones use click itself), hence the ignores on the overrides.
from typer import Context
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

HELP_OPTION_NAMES = ["-h", "--help"]


def reflow(text: str) -> str:
    """Paragraphs (split at blank lines) joined into single lines; Rich wraps them to the terminal.
    A paragraph that starts with click's no-rewrap mark `\\b` keeps its line breaks."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph if paragraph.startswith("\b") else " ".join(paragraph.split()) for paragraph in paragraphs
    )


def _hide_flag_types(params: list[Any]) -> list[Any]:
    """A flag's type column stays empty (Typer shows `<bool>`, which reads as if it took a value)."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A batchsync command: see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            self.help = reflow(self.help)

    def get_params(self, ctx: Context) -> list[Any]:  # type: ignore[override]
        return _hide_flag_types(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Context) -> list[str]:  # type: ignore[override]
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "ARG").upper()
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class Group(TyperGroup):
    """The `batchsync` app itself: flags without `<bool>`, like its commands."""

    def get_params(self, ctx: Context) -> list[Any]:  # type: ignore[override]
        return _hide_flag_types(super().get_params(ctx))
