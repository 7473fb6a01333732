"""What a language module of the corpus holds: the entries of its word pools, and the pools every language has.

A language module (`ko.py`, `en.py`) is plain data. The shared code (compose.py, layout.py) reads the
pools named in SHARED_POOLS from it; its own field rules (`ko_fields.py`) read the rest.

Pool strings may contain alternatives written "{a|b|c}"; one is picked at random each time
(an empty alternative is allowed). Templates with named fields ("{co}", "{title}") are filled
with str.format after the alternatives are expanded.
"""

from __future__ import annotations

from typing import NamedTuple


class Role(NamedTuple):
    """A role family: titles that share one pool of duties, requirements and preferred skills."""
    key: str
    sector: str                   # picks benefits, hiring process, documents, contact department
    companies: tuple[str, ...]    # employer kinds (keys of EMPLOYERS) that hire this role
    titles: tuple[str, ...]
    duties: tuple[str, ...]
    requirements: tuple[str, ...]
    preferred: tuple[str, ...]
    education: tuple[str, ...]
    employment: tuple[str, ...]   # keys of EMPLOYMENT; repeats act as weights
    pay: tuple[int, int]          # yearly pay range: 만원 (ko) or thousand USD (en)
    hours: tuple[str, ...]        # keys of HOURS


class Employer(NamedTuple):
    """A kind of employer: how its names are formed and how it describes itself."""
    forms: tuple[tuple[str, ...], ...]   # (name template, romanized domain tail[, description of that name])
    descs: tuple[str, ...]               # what it is, for the intro, when the form has no description
    corporate: bool = True               # may carry a legal form such as (주) / Inc.
    small: bool = False                  # a shop or clinic: a handful of staff, no revenue talk
    formal: bool = False                 # a public body or school: official-notice headlines
    depts: tuple[str, ...] = ()          # departments that handle hiring, besides the language's generic DEPTS
    perks: tuple[str, ...] = ()          # benefits typical of this kind of employer


class Region(NamedTuple):
    """A Korean province or metropolitan city."""
    full_name: str                                # "서울특별시"
    short_name: str                               # "서울"
    area_code: str                                # "02"
    districts: tuple[tuple[str, str, str], ...]   # (district, romanized city, "dong dong ...")


SHARED_POOLS = (
    "ROLES", "EMPLOYMENT", "HOURS",
    # compose.py: the fields every language draws the same way
    "PROCESSES", "PART_PROCESS", "INTRO_OPENINGS", "INTRO_EXTRAS", "INTRO_EXTRAS_LARGE", "FORMAL_INTRO",
    "HEADLINES", "FORMAL_HEADLINES", "CLOSINGS", "NOTES", "NOTES_PER_POSTING",
    "HEADCOUNTS", "BULK_HEADCOUNTS", "BULK_ROLES", "BULK_HEADCOUNT_CHANCE",
    # layout.py: how a posting is written out
    "LABELS", "FRIENDLY_LABELS", "HEADER_FORMATS", "NUMBERED", "BULLETS", "NUMBERED_BULLETS", "KV_FORMATS",
    "ARROWS", "LIST_JOINERS", "DETAIL_JOINERS", "STEP_FORMATS", "UPPERCASE_HEADERS",
)
