"""What the command-line scripts share: config flags, one-line errors, the data-preparation bar.

Every Config field becomes a flag of the same name with the same default, so the CLI and
the app's controls can never drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from tqdm import tqdm

from .config import PRESETS, Config


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(Config)
    group = parser.add_argument_group("config (defaults are the original recipe)")
    for field in dataclasses.fields(Config):
        kind = hints[field.name]
        if kind is bool:
            group.add_argument(f"--{field.name}", type=parse_bool, nargs="?", const=True, default=field.default,
                               metavar="true|false", help=f"(default {field.default})")
        else:
            group.add_argument(f"--{field.name}", type=kind, default=field.default, help=f"(default {field.default})")


def parse_config_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the flags; `--preset NAME` first sets the defaults that the other flags then change."""
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named config; other flags override it")
    known, _ = parser.parse_known_args(argv)
    if known.preset:
        parser.set_defaults(**PRESETS[known.preset])
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Config:
    return Config(**{field.name: getattr(args, field.name) for field in dataclasses.fields(Config)})


def fail(message: str, code: int = 2) -> typing.NoReturn:
    """A one-line error for a person, no traceback."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


class PreparationBar:
    """Draws data-preparation Progress events: each stage's message, then a bar for it."""

    def __init__(self):
        self.bar = None

    def show(self, progress) -> None:
        if progress.stage == "done":
            self.close()
            print(f"data ready: {progress.message}")
            return
        if self.bar is None or self.bar.desc != progress.stage:
            self.close()
            print(progress.message)
            self.bar = tqdm(total=progress.total or None, desc=progress.stage, unit=progress.unit or "it",
                            unit_scale=bool(progress.unit), leave=False)
        self.bar.update(progress.done - self.bar.n)
        if not progress.unit and progress.total and progress.done >= progress.total:
            self.bar.write(progress.message)  # a counted stage ends with what it made

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
