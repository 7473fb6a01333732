"""A Gradio control for every described setting (see gpt.controls), built from its description.

The widget, range, step and choices come from the field's `setting(...)`; the label and help
text from the locale keys `field.<name>` and `field.<name>.info`. So the Train tab, the Data
tab's vocabulary slider and the Sample tab's options all follow their dataclasses.
"""

from __future__ import annotations

import gradio as gr

from gpt import Setting
from gpt.locales import has_text

from .i18n import label


def control_for(setting: Setting, value, elem_id: str):
    control = setting.control
    common = dict(label=label(f"field.{setting.name}"), elem_id=elem_id)
    if has_text(f"field.{setting.name}.info"):
        common["info"] = label(f"field.{setting.name}.info")
    if control.widget == "slider":
        return gr.Slider(minimum=control.low, maximum=control.high, value=value, step=control.step,
                         precision=0 if setting.is_integer else None, **common)
    if control.widget == "number":
        return gr.Number(value=value, minimum=control.low, step=control.step,
                         precision=0 if setting.is_integer else None, **common)
    if control.widget == "radio":
        return gr.Radio(list(control.choices()), value=value, **common)
    if control.widget == "choice":
        return gr.Dropdown(list(control.choices()), value=value, allow_custom_value=control.custom_values, **common)
    if control.widget == "checkbox":
        return gr.Checkbox(value=value, **common)
    if control.widget == "text":
        return gr.Textbox(value=value, max_lines=1, **common)
    raise ValueError(f"no widget {control.widget!r} for {setting.name}")
