"""The built-in corpora: synthetic job postings, one corpus per language, the same bytes for the same seed.

The original tutorial trains a GPT on Korean job postings. We cannot download any, so we
synthesize them. Every posting draws a role family (its duties, requirements and preferred
skills come only from that family's pools, so a nursing posting never lists Python), an employer
of a kind that hires that role (a pharmacist works at a pharmacy or a hospital), a location, pay,
hours, benefits, a hiring process, a deadline and contact details, and is written out in one of
several layouts.

    ko.py, en.py               one language's word pools: pure data
    ko_fields.py, en_fields.py that language's rules for drawing a posting's fields: `draw(rng) -> dict`
    compose.py                 the small steps those rules share
    layout.py                  the fields written out as text
    schema.py                  the pool entries (Role, Employer) and the pools every language defines

A corpus is found by its pools module: every module here that defines ROLES is one, named after
it, with its rules in `<name>_fields.py`. Korean comes first (the tutorial's language), then
English, then any others by name: Japanese postings would be ja.py and ja_fields.py, nothing else.
Everything random goes through a local random.Random(seed), never the global one.

Public: CORPORA, corpus_names, corpus_text_path, build_corpus, generate_postings.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import random
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

from .layout import render
from .schema import SHARED_POOLS

LISTED_FIRST = ("ko", "en")   # the other corpora follow by name


@dataclass(frozen=True)
class Corpus:
    """One built-in corpus: job postings in one language."""
    name: str                                 # "ko": its modules' name and its text file's suffix
    pools: ModuleType                         # its word pools: ko.py
    draw: Callable[[random.Random], dict]     # ko_fields.draw: one posting's fields


def _discover() -> dict[str, Corpus]:
    """Every module here that defines ROLES, with the draw of its `<name>_fields`; Korean and English first."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        pools = importlib.import_module(f"{__name__}.{module.name}")
        if not hasattr(pools, "ROLES"):
            continue
        missing = [name for name in SHARED_POOLS if not hasattr(pools, name)]
        if missing:
            raise ImportError(f"{pools.__name__} lacks the pools {', '.join(missing)}")
        rules = importlib.import_module(f"{__name__}.{module.name}_fields")
        found[module.name] = Corpus(module.name, pools, rules.draw)
    order = [name for name in LISTED_FIRST if name in found] + sorted(set(found) - set(LISTED_FIRST))
    return {name: found[name] for name in order}


CORPORA: dict[str, Corpus] = _discover()


def corpus_names() -> tuple[str, ...]:
    """The built-in corpora's names, Korean first: ("ko", "en", ...)."""
    return tuple(CORPORA)


def _corpus(name: str) -> Corpus:
    if name not in corpus_names():
        raise ValueError(f"unknown language {name!r}: choose one of {', '.join(corpus_names())}")
    return CORPORA[name]


def corpus_text_path(data_folder: str | os.PathLike, name: str) -> Path:
    """Where the readable copy of a built-in corpus is kept, beside the data prepared from it."""
    return Path(data_folder) / f"job_postings_{_corpus(name).name}.txt"


def _records(seed: int = 1337, language: str = "ko") -> Iterator[tuple[dict, str]]:
    """Endless stream of (fields, posting text) pairs; generate_postings yields the texts of this same stream.

    The language is checked at call time, before any posting is drawn.
    """
    corpus = _corpus(language)

    def stream() -> Iterator[tuple[dict, str]]:
        rng = random.Random(seed)
        while True:
            fields = corpus.draw(rng)
            yield fields, render(rng, corpus.pools, fields)

    return stream()


def generate_postings(seed: int = 1337, language: str = "ko") -> Iterator[str]:
    """Endless, deterministic stream of job postings (each a multi-line string, no trailing blank line)."""
    return (text for _, text in _records(seed, language))


def build_corpus(target_bytes: int, seed: int = 1337, language: str = "ko") -> list[str]:
    """Postings until their UTF-8 size (joined with blank lines) reaches target_bytes."""
    if isinstance(target_bytes, bool) or not isinstance(target_bytes, int) or target_bytes <= 0:
        raise ValueError(f"target_bytes must be a positive integer, got {target_bytes!r}")
    postings: list[str] = []
    size = -2                      # no separator before the first posting
    for text in generate_postings(seed, language):
        postings.append(text)
        size += len(text.encode("utf-8")) + 2
        if size >= target_bytes:
            break
    return postings
