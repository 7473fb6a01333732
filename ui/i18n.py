"""The app's words: the locale tables of `gpt.locales` handed to Gradio, and the visitor's language.

Labels and help texts (`label.*`, `field.*`) go to `gr.I18n`, which the browser's language picks.
Messages with numbers in them are formatted here in the language of the request's
Accept-Language header, which follows the same browser setting.
"""

from __future__ import annotations

import gradio as gr

from gpt.locales import FALLBACK, TABLES, closest_language, has_text, in_language, text

# Our keys get a prefix: gradio's own translations use keys like "plot" and "upload" for groups
# of strings, and a clash shows "[object Object]" instead of the label.
KEY_PREFIX = "gpt_trainer."
_SHOWN_BY_BROWSER = ("label.", "field.")
i18n = gr.I18n(**{language: {KEY_PREFIX + key: table.get(key, TABLES[FALLBACK][key])
                             for key in TABLES[FALLBACK] if key.startswith(_SHOWN_BY_BROWSER)}
                  for language, table in TABLES.items()})


def label(key: str):
    """A label or help text that the browser shows in its language ("field.lr" or a label key like "train")."""
    full = key if key.startswith("field.") else f"label.{key}"
    if not has_text(full):
        raise KeyError(f"no text {full!r} in gpt/locales/en.py")
    return i18n(KEY_PREFIX + full)


def label_text(key: str, language: str) -> str:
    """A label as plain text in one language, for values a handler fills in (a dropdown's choices)."""
    return text(f"label.{key}", language)


def language_of(request: gr.Request | None) -> str:
    """The first language of the browser's list that we speak; English otherwise."""
    if request is None:
        return FALLBACK
    return closest_language(request.headers.get("accept-language") or "")


def message(key: str, language: str, **values) -> str:
    """One of the app's own messages (`app.<key>`) in the visitor's language."""
    return text(f"app.{key}", language, **values)


def say(sentence, language: str) -> str:
    """A sentence from gpt (a Text, or a plain str) in the visitor's language."""
    return in_language(sentence, language)


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
