"""Writing a posting's fields out as text, in one of five layouts.

A posting's fields come from a language's `draw` (ko_fields.py, en_fields.py): a dict of display
strings (company, title, headline, employment, headcount, experience, education, location, hours,
salary, deadline, apply, contact, closing) and lists of strings (intro, duties, requirements,
preferred, benefits, process, documents, notes). The labels, bullets and header styles come from
the language's pools module (`pools` below). `render` picks the layout: bracketed or "■" section
headers, numbered sections, a key-value summary, a compact inline form, or a friendly start-up style.
"""

from __future__ import annotations

import random
from types import ModuleType


def _nudge(rng: random.Random, keys: list[str]) -> list[str]:
    """Swap one adjacent pair now and then, so field order varies but stays natural."""
    if len(keys) > 1 and rng.random() < 0.5:
        i = rng.randrange(len(keys) - 1)
        keys[i], keys[i + 1] = keys[i + 1], keys[i]
    return keys


class _Doc:
    """Collects the lines of one posting with the formats chosen for it (headers, bullets, key-value pairs)."""

    def __init__(self, rng: random.Random, pools: ModuleType, numbered: bool = False, friendly: bool = False):
        self.rng, self.pools, self.numbered, self.friendly = rng, pools, numbered, friendly
        self.lines: list[str] = []
        self.count = 0
        self.header_format = rng.choice(pools.NUMBERED if numbered else pools.HEADER_FORMATS)
        self.bullet = rng.choice(pools.NUMBERED_BULLETS if numbered else pools.BULLETS)
        self.kv_format = rng.choice(pools.KV_FORMATS)
        self.upper = pools.UPPERCASE_HEADERS and rng.random() < 0.2

    def label(self, key: str) -> str:
        pool = self.pools.FRIENDLY_LABELS.get(key) if self.friendly else None
        return self.rng.choice(pool or self.pools.LABELS[key])

    def header(self, key: str) -> None:
        text = self.label(key)
        text = text.upper() if self.upper else text
        if self.numbered:
            self.count += 1
        self.lines.append(self.header_format.format(text, n=self.count))

    def kv(self, key: str, value: str) -> None:
        self.lines.append(self.kv_format.format(k=self.label(key), v=value))

    def facts(self, posting: dict, keys: list[str]) -> None:
        """Key-value lines for these fields, in about this order."""
        for key in _nudge(self.rng, keys):
            self.kv(key, posting[key])

    def bullets(self, items) -> None:
        self.lines.extend(self.bullet + item for item in items)

    def line(self, text: str) -> None:
        self.lines.append(text)

    def inline(self, items) -> str:
        return self.rng.choice(self.pools.LIST_JOINERS).join(items)

    def section(self, key: str, items) -> None:
        self.header(key)
        self.bullets(items)

    def job(self, posting: dict, preferred: float) -> None:
        """Duties and requirements as sections, and preferred skills by its chance."""
        self.section("duties", posting["duties"])
        self.section("requirements", posting["requirements"])
        if self.rng.random() < preferred:
            self.section("preferred", posting["preferred"])

    def benefits(self, items) -> None:
        self.header("benefits")
        if self.rng.random() < 0.5:
            self.bullets(items)
        else:
            self.line(self.rng.choice(("", self.bullet)) + self.inline(items))

    def process(self, steps) -> None:
        self.header("process")
        if self.rng.random() < 0.75:
            self.line(self.rng.choice(self.pools.ARROWS).join(steps))
        else:
            step = self.rng.choice(self.pools.STEP_FORMATS)
            self.lines.extend(step.format(i=i, s=s) for i, s in enumerate(steps, 1))

    def how_to_apply(self, posting: dict, with_deadline: bool = True) -> None:
        self.header("howto" if self.rng.random() < 0.5 else "apply")
        if with_deadline:
            self.kv("deadline", posting["deadline"])
        self.kv("apply", posting["apply"])
        if self.rng.random() < 0.5:
            self.kv("documents", self.inline(posting["documents"]))
        self.kv("contact", posting["contact"])

    def ending(self, posting: dict, process: float, notes: float, closing: float, with_deadline: bool = True) -> None:
        """Hiring process, how to apply, notes and a closing line; process, notes and closing each by its chance."""
        if self.rng.random() < process:
            self.process(posting["process"])
        self.how_to_apply(posting, with_deadline)
        if self.rng.random() < notes:
            self.section("notes", posting["notes"])
        if self.rng.random() < closing:
            self.line(posting["closing"])

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines if line.strip())


def _layout_sections(rng: random.Random, pools: ModuleType, posting: dict, numbered: bool) -> str:
    """Bracketed / ■ / numbered section headers with an overview block of key-value pairs."""
    doc = _Doc(rng, pools, numbered=numbered)
    doc.line(posting["headline"])
    if rng.random() < 0.45:
        if rng.random() < 0.5:
            doc.header("about")
        doc.line(" ".join(posting["intro"]))
    doc.header("overview")
    keys = ["role", "employment", "headcount", "experience", "education"]
    if posting["company"] not in posting["headline"] or rng.random() < 0.35:
        keys.insert(0, "company")
    conditions = ["location", "hours", "salary"]
    if rng.random() < 0.5:
        keys, conditions = keys + conditions, []
    doc.facts(posting, keys)
    doc.job(posting, preferred=0.85)
    tail = ["benefits", "conditions"] if conditions else ["benefits"]
    for block in _nudge(rng, tail):
        if block == "benefits":
            doc.benefits(posting["benefits"])
        else:
            doc.header("conditions")
            for key in conditions:
                doc.kv(key, posting[key])
    doc.ending(posting, process=0.85, notes=0.3, closing=0.5)
    return doc.text()


def _layout_summary(rng: random.Random, pools: ModuleType, posting: dict) -> str:
    """A block of key-value facts first, then headed sections."""
    doc = _Doc(rng, pools)
    doc.line(posting["headline"])
    if rng.random() < 0.3:
        doc.line(" ".join(posting["intro"]))
    keys = ["company", "role", "employment", "experience", "education", "headcount", "location", "hours", "salary", "deadline"]
    keys = [k for k in keys if k in ("company", "role", "salary", "deadline", "location") or rng.random() < 0.8]
    doc.facts(posting, keys)
    doc.job(posting, preferred=0.8)
    doc.benefits(posting["benefits"])
    doc.ending(posting, process=0.8, notes=0.25, closing=0.4, with_deadline="deadline" not in keys)
    return doc.text()


def _layout_compact(rng: random.Random, pools: ModuleType, posting: dict) -> str:
    """Short key-value form; lists are written inline."""
    doc = _Doc(rng, pools)
    doc.line(posting["headline"])
    if rng.random() < 0.15:
        doc.line(posting["intro"][0])
    doc.facts(posting, ["company", "role", "employment", "experience"])
    doc.kv("duties", doc.inline(posting["duties"]))
    doc.kv("requirements", doc.inline(posting["requirements"]))
    if rng.random() < 0.7:
        doc.kv("preferred", doc.inline(posting["preferred"]))
    doc.facts(posting, ["location", "hours", "salary"])
    doc.kv("benefits", doc.inline(posting["benefits"]))
    if rng.random() < 0.6:
        doc.kv("process", rng.choice(pools.ARROWS).join(posting["process"]))
    doc.kv("deadline", posting["deadline"])
    doc.kv("apply", posting["apply"])
    doc.kv("contact", posting["contact"])
    return doc.text()


def _layout_friendly(rng: random.Random, pools: ModuleType, posting: dict) -> str:
    """Start-up style: an intro paragraph, conversational headers, one line of job details."""
    doc = _Doc(rng, pools, friendly=True)
    doc.line(posting["headline"])
    intro = " ".join(posting["intro"])
    doc.line(intro)
    if posting["company"] not in posting["headline"] + intro:
        doc.kv("company", posting["company"])
    doc.section("duties", posting["duties"])
    doc.section("requirements", posting["requirements"])
    doc.section("preferred", posting["preferred"])
    doc.benefits(posting["benefits"])
    doc.header("conditions")
    details = (posting["employment"], posting["experience"], posting["location"], posting["salary"])
    doc.line(rng.choice(pools.DETAIL_JOINERS).join(details))
    doc.kv("hours", posting["hours"])
    doc.process(posting["process"])
    doc.how_to_apply(posting)
    doc.line(posting["closing"])
    return doc.text()


def render(rng: random.Random, pools: ModuleType, posting: dict) -> str:
    """The posting as text: lines, no blank line inside, in a layout picked at random."""
    r = rng.random()
    if r < 0.34:
        return _layout_sections(rng, pools, posting, numbered=False)
    if r < 0.52:
        return _layout_sections(rng, pools, posting, numbered=True)
    if r < 0.72:
        return _layout_summary(rng, pools, posting)
    if r < 0.87:
        return _layout_compact(rng, pools, posting)
    return _layout_friendly(rng, pools, posting)
