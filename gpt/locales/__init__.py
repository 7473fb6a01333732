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


def text(key: str, language: str = FALLBACK, **values) -> str:
    """The sentence for `key` in `language` (English where that language lacks it), filled in with values."""
    table = TABLES.get(language, TABLES[FALLBACK])
    template = table.get(key)
    if template is None:
        template = TABLES[FALLBACK][key]  # KeyError for a key no language has: a bug, not a user's mistake
    return template.format(**values)


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
