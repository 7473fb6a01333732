"""The small steps a posting is drawn with, shared by every language.

First the operations on pool strings (expand "{a|b}", pick a few items, merge lists), then the
fields every language draws the same way from its pools module (`pools` below is ko.py, en.py, ...).
Each function takes the corpus's random.Random and calls it in a fixed order: that order is what
makes a seed give the same bytes, so a change to it changes every prepared corpus.
"""

from __future__ import annotations

import datetime
import random
import re
from types import ModuleType
from typing import NamedTuple

from .schema import Employer, Role

_ALTERNATIVES = re.compile(r"\{([^{}]*\|[^{}]*)\}")
_SPACES = re.compile(r" {2,}")


class Place(NamedTuple):
    """Where the job is, in the forms a posting needs."""
    text: str    # how the posting shows the location
    city: str    # short label for headlines: "서울 강남구", "Austin, TX"
    area: str    # telephone area code
    roman: str   # romanized city, for public-sector domains
    base: str    # city or district that can name an employer: "수원시", "강남구", "Austin"
    local: str   # its short form: "수원", "강남" ("서구" stays "서구")


def fill(rng: random.Random, text: str) -> str:
    """Expand each "{a|b|c}" in text into one randomly chosen alternative."""
    if "|" not in text:
        return text
    return _ALTERNATIVES.sub(lambda m: rng.choice(m.group(1).split("|")), text)


def tidy(text: str) -> str:
    """Collapse runs of spaces (left by an empty alternative) and strip the ends."""
    return _SPACES.sub(" ", text).strip()


def some(rng: random.Random, pool, low: int, high: int) -> list[str]:
    """Between low and high distinct items of pool (in random order), alternatives expanded."""
    count = rng.randint(min(low, len(pool)), min(high, len(pool)))
    return [fill(rng, item) for item in rng.sample(pool, count)]


def merge(*groups) -> list[str]:
    """Concatenate lists, dropping repeats while keeping the first occurrence's position."""
    seen, out = set(), []
    for group in groups:
        for item in group:
            if item and item not in seen:
                seen.add(item)
                out.append(item)
    return out


def date_2025(rng: random.Random) -> datetime.date:
    return datetime.date(2025, 1, 1) + datetime.timedelta(days=rng.randrange(365))


# ---- fields every language draws the same way ------------------------------------------------

def draw_employment(rng: random.Random, pools: ModuleType, employment: str) -> str:
    """How the posting words its employment type ("정규직 (수습 3개월)", "Full-time (exempt)")."""
    return fill(rng, rng.choice(pools.EMPLOYMENT[employment]))


def draw_hours(rng: random.Random, pools: ModuleType, role: Role) -> str:
    return fill(rng, rng.choice(pools.HOURS[rng.choice(role.hours)]))


def draw_process(rng: random.Random, pools: ModuleType, sector: str, employment: str) -> list[str]:
    """The hiring steps: a quick one for part-time work, else the sector's own or the default."""
    if employment in ("part", "daily") and rng.random() < 0.6:
        sequence = rng.choice(pools.PART_PROCESS)
    elif sector in pools.PROCESSES and rng.random() < 0.75:
        sequence = rng.choice(pools.PROCESSES[sector])
    else:
        sequence = rng.choice(pools.PROCESSES["default"])
    return [step for step in (fill(rng, s) for s in sequence) if step]


def headcount_pool(rng: random.Random, pools: ModuleType, role: Role) -> tuple[str, ...]:
    """Where the number of openings is drawn from: roles hired in bulk often post large numbers."""
    if role.key in pools.BULK_ROLES and rng.random() < pools.BULK_HEADCOUNT_CHANCE:
        return pools.BULK_HEADCOUNTS
    return pools.HEADCOUNTS


def draw_intro(rng: random.Random, pools: ModuleType, employer: Employer, fields: dict) -> list[str]:
    """The company's sentences about itself; a public body gives one formal sentence instead."""
    if employer.formal:
        return [rng.choice(pools.FORMAL_INTRO).format(**fields)]
    extras = pools.INTRO_EXTRAS if employer.small else pools.INTRO_EXTRAS + pools.INTRO_EXTRAS_LARGE
    chosen = [rng.choice(pools.INTRO_OPENINGS)] + rng.sample(extras, rng.randint(0, 2))
    return [sentence.format(**fields) for sentence in chosen]


def draw_headline(rng: random.Random, pools: ModuleType, employer: Employer, fields: dict) -> str:
    """The first line; its {year} is the posting's year, not the company's founding year."""
    template = fill(rng, rng.choice(pools.FORMAL_HEADLINES if employer.formal else pools.HEADLINES))
    return tidy(template.format(**dict(fields, year=2025)))


def draw_notes(rng: random.Random, pools: ModuleType) -> list[str]:
    return [fill(rng, note) for note in rng.sample(pools.NOTES, rng.randint(*pools.NOTES_PER_POSTING))]


def draw_closing(rng: random.Random, pools: ModuleType, fields: dict) -> str:
    return fill(rng, rng.choice(pools.CLOSINGS)).format(**fields)
