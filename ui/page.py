"""The page's components by name ("train.status"), and handlers whose outputs are named, not numbered.

Each tab registers its components under "<tab>.<name>". A handler returns a `View`: a named
tuple whose fields are component names, declared once beside the handler. The wiring asks the
view for its components (`page.components_of(JobView)`), so the output order is never written
twice; a field left out of a view is not updated (`View.of(...)` fills it with gr.skip()).
"""

from __future__ import annotations

import inspect
from collections import namedtuple
from typing import Iterable

import gradio as gr


class Page:
    def __init__(self):
        self.components: dict[str, gr.components.Component] = {}

    def add(self, name: str, component):
        if name in self.components:
            raise KeyError(f"component {name!r} registered twice")
        self.components[name] = component
        return component

    def __getitem__(self, name: str):
        return self.components[name]

    def components_of(self, view_type) -> list:
        return [self.components[name] for name in view_type.names]


def view(type_name: str, names: Iterable[str]):
    """A named tuple of outputs. Its fields are the component names with "." as "__" (field names
    cannot hold a dot); `names` gives them back, `of(**values)` makes one with gr.skip() elsewhere."""
    names = tuple(names)
    base = namedtuple(type_name, [name.replace(".", "__") for name in names])

    def of(cls, **values):
        return cls(*(values.get(field, gr.skip()) for field in cls._fields))

    return type(type_name, (base,), {"__slots__": (), "names": names, "of": classmethod(of)})


def api(function, names: list[str], with_progress: bool = False):
    """A handler whose parameters carry the names the API shows (the config fields, ...).

    The page's handlers take their values positionally; gradio names API parameters after the
    function's signature and injects the request (and a progress tracker) by position, so
    the wrapper declares all of them and passes request and progress on by keyword.
    """
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=gr.Request))
    if with_progress:
        parameters.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=gr.Progress()))
    extras = ("request", "progress") if with_progress else ("request",)

    def split(args):
        values = list(args[:len(names)]) + [None] * (len(names) - len(args))
        return values, dict(zip(extras, args[len(names):]))

    if inspect.isasyncgenfunction(function):
        async def wrapper(*args):
            values, keywords = split(args)
            async for item in function(*values, **keywords):
                yield item
    elif inspect.isgeneratorfunction(function):
        def wrapper(*args):
            values, keywords = split(args)
            yield from function(*values, **keywords)
    else:
        def wrapper(*args):
            values, keywords = split(args)
            return function(*values, **keywords)
    wrapper.__name__ = function.__name__
    wrapper.__signature__ = inspect.Signature(parameters)
    wrapper.__annotations__ = {"request": gr.Request}
    return wrapper
