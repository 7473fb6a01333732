"""Every sentence a person reads, one table per language: `en.py`, `ko.py`, ...

    text("dtype_reason.cpu_amx", "ko")  ->  "이 CPU에는 AMX-BF16 장치가 있습니다"

A language is one module here holding `NAME` (its own name for itself) and `TEXTS`, a dict from
key to a `str.format` template; this package finds every such module, so a third language is
one new file. A key missing from a language falls back to English. The app, the CLI and the
plots all read from here; `gpt` code that produces a message for a person returns the key and
its values, or an English sentence built from the English table.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

FALLBACK = "en"


def _load() -> dict[str, dict[str, str]]:
    tables = {}
    for module in pkgutil.iter_modules(__path__):
        tables[module.name] = importlib.import_module(f"{__name__}.{module.name}").TEXTS
    return tables


TABLES = _load()
LANGUAGES = tuple(sorted(TABLES, key=lambda code: (code != FALLBACK, code)))  # English first


def language_name(language: str) -> str:
    return importlib.import_module(f"{__name__}.{language}").NAME


def text(key: str, language: str = FALLBACK, /, **values) -> str:
    """The sentence for `key` in `language` (English where that language lacks it), filled in with values.

    Values that are `Text` themselves (a reason inside a message), or lists of them, are said in the
    same language.
    """
    table = TABLES.get(language, TABLES[FALLBACK])
    template = table.get(key)
    if template is None:
        template = TABLES[FALLBACK][key]  # KeyError for a key no language has: a bug, not a user's mistake
    return template.format(**{name: _said(value, language) for name, value in values.items()})


def _said(value, language: str):
    """A value as it goes into a sentence: Text in the sentence's language, a list of Texts joined."""
    if isinstance(value, Text):
        return value.in_language(language)
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, Text) for item in value):
        return ", ".join(item.in_language(language) for item in value)
    return value


class Text(str):
    """A sentence for a person that knows how to say itself in every language.

    It is the English sentence (so it prints, compares and joins like any str, in logs, errors and
    tests), and keeps its key and values: `in_language("ko")` says it in Korean. `gpt` raises and
    yields these; the app shows them in the visitor's language and the CLI in the terminal's.
    """

    key: str
    values: dict

    def __new__(cls, key: str, /, **values) -> "Text":
        sentence = super().__new__(cls, text(key, FALLBACK, **values))
        sentence.key, sentence.values = key, values
        return sentence

    def in_language(self, language: str) -> str:
        return text(self.key, language, **self.values)

    def __reduce__(self):  # pickles (across processes) as the Text it is
        return (_rebuild, (self.key, self.values))


def _rebuild(key: str, values: dict) -> Text:
    return Text(key, **values)


def in_language(message: object, language: str) -> str:
    """A message in `language`: a Text is translated, anything else (a plain str) shown as it is."""
    return message.in_language(language) if isinstance(message, Text) else str(message)


def has_text(key: str) -> bool:
    return key in TABLES[FALLBACK]


def closest_language(preferences: str) -> str:
    """The first language we speak from a list like "ko-KR,ko;q=0.9,en;q=0.8" or "ko_KR.UTF-8"."""
    for entry in preferences.replace(":", ",").split(","):
        code = entry.split(";")[0].strip().lower().replace("_", "-").split("-")[0].split(".")[0]
        if code in TABLES:
            return code
        if code in ("c", "posix"):
            return FALLBACK
    return FALLBACK


def language_of_environment(environ: dict | None = None) -> str:
    """The language the terminal asks for: LC_ALL, then LC_MESSAGES, then LANG, then LANGUAGE (as gettext reads them)."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        if value := environ.get(name):
            return closest_language(value)
    return FALLBACK


def explain(message: object, language: str) -> str:
    """A message, or an error's (each of a ConfigError's problems, joined), in `language`."""
    if isinstance(message, Exception):
        if problems := getattr(message, "problems", None):
            return "; ".join(in_language(problem, language) for _, problem in problems)
        message = message.args[0] if message.args else str(message)
    return in_language(message, language)
