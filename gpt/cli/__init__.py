"""The command line: one module per program (train, sample, prepare, export), and what they share.

Every Config and SamplingOptions field becomes a flag of the same name with the same default,
so the CLI and the app's controls can never drift apart. Programs speak the terminal's language
(LC_ALL, LC_MESSAGES, LANG: `ko_KR.UTF-8` gives the original tutorial's Korean lines); lines that
scripts parse (`step N train_loss=... val_loss=...`) stay the same in every language.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from tqdm import tqdm

from ..config import PRESETS, Config
from ..locales import explain, has_text, in_language, language_of_environment, text

LANGUAGE = language_of_environment()


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    add_flags(parser, Config, "config (defaults are the original recipe)")


def add_flags(parser: argparse.ArgumentParser, settings_class: type, title: str) -> None:
    """A flag for every field of a dataclass (Config, SamplingOptions), its help from the English locale."""
    hints = typing.get_type_hints(settings_class)
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(settings_class):
        kind = hints[field.name]
        info = f"field.{field.name}.info"
        described = f"{text(info)} " if has_text(info) else ""
        if kind is bool:
            group.add_argument(f"--{field.name}", type=parse_bool, nargs="?", const=True, default=field.default,
                               metavar="true|false", help=f"{described}(default {field.default})")
        else:
            if kind == (int | None):  # a seed: no value means a new one every time
                kind = int
            group.add_argument(f"--{field.name}", type=kind, default=field.default,
                               help=f"{described}(default {field.default})")


def settings_from_args(args: argparse.Namespace, settings_class: type):
    return settings_class(**{field.name: getattr(args, field.name) for field in dataclasses.fields(settings_class)})


def parse_config_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the flags; `--preset NAME` first sets the defaults that the other flags then change."""
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named config; other flags override it")
    known, _ = parser.parse_known_args(argv)
    if known.preset:
        parser.set_defaults(**PRESETS[known.preset])
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Config:
    return settings_from_args(args, Config)


def say(key: str, **values) -> str:
    """A line in the terminal's language."""
    return text(key, LANGUAGE, **values)


def fail(message: str | Exception, code: int = 2) -> typing.NoReturn:
    """A one-line error for a person, in the terminal's language, no traceback."""
    print(say("cli.error", message=said(message)), file=sys.stderr)
    sys.exit(code)


def said(message: str | Exception) -> str:
    """A message, or a user error's message (each of a ConfigError's problems), in the terminal's language."""
    return explain(message, LANGUAGE)


class PreparationBar:
    """Draws data-preparation Progress events: each stage's message, then a bar for it."""

    def __init__(self):
        self.bar = None

    def show(self, progress) -> None:
        message = in_language(progress.message, LANGUAGE)
        if progress.stage == "done":
            self.close()
            print(say("cli.data_ready", message=message))
            return
        if self.bar is None or self.bar.desc != progress.stage:
            self.close()
            print(message)
            self.bar = tqdm(total=progress.total or None, desc=progress.stage, unit=progress.unit or "it",
                            unit_scale=bool(progress.unit), leave=False)
        self.bar.update(progress.done - self.bar.n)
        if not progress.unit and progress.total and progress.done >= progress.total:
            self.bar.write(message)  # a counted stage ends with what it made

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
