"""How a setting appears to a person: its widget, range and group, declared beside the field.

    block_size: int = setting(256, "model", low=8, high=1024, step=8)

`Config` and `SamplingOptions` declare their fields this way. The app builds its controls from
these descriptions, its API takes one parameter per described field, and the CLI makes a flag of
every field; labels and help texts are the locale keys `field.<name>` and `field.<name>.info`.
A field made with plain `dataclasses.field` (a path, a seed) has no control in the app.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Control:
    group: str  # the box it sits in: "model", "optimisation", "evaluation", "device", "run", "data", "sampling"
    widget: str  # "slider", "number", "choice", "checkbox", "text"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: Callable[[], Sequence[str]] | None = None  # asked when the page is built (e.g. the devices present)
    custom_values: bool = False  # a choice that also takes values not listed (checked by `problems()` instead)
    in_presets: bool = True  # whether choosing a preset sets it (the run name is the visitor's own)


def setting(default: Any, group: str, *, widget: str | None = None, low: float | None = None,
            high: float | None = None, step: float | None = None, choices: Callable[[], Sequence[str]] | None = None,
            custom_values: bool = False, in_presets: bool = True) -> Any:
    """A dataclass field with a default and its Control; the widget follows from the arguments when not given."""
    if widget is None:
        widget = ("choice" if choices is not None else "checkbox" if isinstance(default, bool)
                  else "text" if isinstance(default, str) else "slider")
    return dataclasses.field(default=default, metadata={"control": Control(group, widget, low, high, step, choices,
                                                                           custom_values, in_presets)})


@dataclass(frozen=True)
class Setting:
    """A described field: its name, type, default and Control."""

    name: str
    kind: type
    default: Any
    control: Control

    @property
    def is_integer(self) -> bool:
        return self.kind is int or self.kind == (int | None)

    def convert(self, value: Any) -> Any:
        """A value as a widget sends it, in the field's type (sliders send floats: 8.0 -> 8)."""
        if value is None:
            return self.default
        if self.is_integer and isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def settings(cls: type, group: str | None = None) -> list[Setting]:
    """The described fields of a dataclass, in declaration order (those of one group if given)."""
    hints = typing.get_type_hints(cls)
    found = [Setting(f.name, hints[f.name], f.default, f.metadata["control"])
             for f in dataclasses.fields(cls) if "control" in f.metadata]
    return [s for s in found if group is None or s.control.group == group]
