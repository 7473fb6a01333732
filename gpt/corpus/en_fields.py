"""How an English (US) posting's fields are drawn from the pools in en.py: the rules that are not data.

US postings have their own: pay per hour or per year in dollars, remote and hybrid locations, street
addresses, 555 phone numbers and month names in dates. `draw` is the entry point: it returns one
posting's fields for layout.py to write out.
"""

from __future__ import annotations

import random
import re

from . import en
from .compose import (Place, date_2025, draw_closing, draw_employment, draw_headline, draw_hours, draw_intro,
                      draw_notes, draw_process, fill, headcount_pool, merge, some)
from .schema import Employer, Role


def _experience(rng: random.Random, employment: str) -> tuple[str, int, str]:
    """(kind, minimum years, display text); kind is new, exp, any or newexp."""
    if employment == "intern":
        kind = "new"
    elif employment in ("part", "daily"):
        kind = rng.choice(("any", "any", "new"))
    else:
        kind = rng.choice(("new", "exp", "exp", "exp", "any", "newexp"))
    years = rng.choice((1, 2, 2, 3, 3, 4, 5, 5, 7, 10)) if kind == "exp" else 0
    text = rng.choice({
        "new": ("Entry level", "No experience required", "0-1 years"),
        "exp": ("{n}+ years", "{n}-{m} years of relevant experience", "Minimum {n} years", "{n}+ years in a similar role"),
        "any": ("All experience levels", "Experience preferred but not required"),
        "newexp": ("Entry to mid level", "Junior to mid level"),
    }[kind]).format(n=years, m=years + rng.choice((2, 3)))
    return kind, years, text


def _title(rng: random.Random, role: Role, kind: str, years: int) -> str:
    title = fill(rng, rng.choice(role.titles))
    r = rng.random()
    if kind == "exp" and years >= 5 and r < 0.35 and role.sector in ("it", "office", "creative", "mfg"):
        return rng.choice(("Senior {t}", "Lead {t}", "{t} III")).format(t=title)
    if kind == "new" and r < 0.25 and role.sector in ("it", "office", "creative"):
        return rng.choice(("Junior {t}", "Entry-Level {t}", "{t} I", "{t} (Entry Level)")).format(t=title)
    if role.sector == "it" and r > 0.85:
        return title + rng.choice((" (Remote)", " (Hybrid)", " II"))
    return title


def _street(rng: random.Random) -> str:
    return f"{rng.randint(10, 9899)} {rng.choice(en.STREETS)} {rng.choice(en.STREET_TYPES)}"


def _place(rng: random.Random, sector: str) -> Place:
    city, state, area = rng.choice(en.CITIES)
    label = f"{city}, {state}"
    r = rng.random()
    if sector == "it" and r < 0.3:
        text = rng.choice(("Remote (US)", f"Hybrid - {label}", f"Remote or {label}"))
    elif r < 0.4:
        text = f"{_street(rng)}, {label}"
    else:
        text = label
    return Place(text, label, area, re.sub(r"[^a-z]", "", city.lower()), city, city)


def _company(rng: random.Random, role: Role, place: Place) -> tuple[str, str, Employer, str]:
    """(company name, web domain, employer kind, description)."""
    employer = en.EMPLOYERS[rng.choice(role.companies)]
    form = rng.choice(employer.forms)
    desc = form[2] if len(form) > 2 else rng.choice(employer.descs)
    core = form[0].format(p=rng.choice(en.COMPANY_PREFIXES), c=place.base)
    name = rng.choice(en.LEGAL_FORMS).format(n=core) if employer.corporate and not core.endswith(".") else core
    slug = re.sub(r"[^a-z]", "", core.lower().replace("&", "and"))[:24]
    return name, slug + (".org" if employer.formal else rng.choice((".com", ".com", ".co", ".net"))), employer, desc


def _salary(rng: random.Random, role: Role, employment: str, years: int) -> str:
    low, high = role.pay
    span = high - low
    annual = int(low + span * 0.6 * min(years, 10) / 10 + rng.random() * span * 0.3)
    hourly = round(annual * 1000 / 2080 * 4) / 4
    if employment == "freelance":
        return rng.choice(("${lo}-${hi}/hour depending on project", "Project-based rate", "${lo}/hour")).format(
            lo=int(hourly * 1.3), hi=int(hourly * 1.8))
    if employment == "intern":
        return f"${rng.randrange(16, 28)}/hour"
    hands_on = role.sector in ("mfg", "food", "retail", "service", "logistics", "health", "construction")
    if employment in ("part", "daily", "dispatch") or (hands_on and rng.random() < 0.6):
        top = hourly + rng.choice((1, 2, 3, 4))
        per_hour = "${h:.2f}/hr + tips" if role.sector == "food" else "${h:.2f}/hr"
        return rng.choice(("${h:.2f}/hour", "${h:.2f}-${t:.2f} per hour", per_hour, "Starting at ${h:.2f}/hour",
                           "${h:.2f}/hour (DOE)")).format(h=hourly, t=top)
    if rng.random() < 0.15:
        return rng.choice(("Competitive, based on experience", "DOE", "Competitive salary plus bonus"))
    top = annual + rng.choice((10, 15, 20, 25))
    return rng.choice(("${a},000 - ${b},000 per year", "${a},000/year", "Up to ${b},000 annually", "${a}K-${b}K + bonus",
                       "${a},000-${b},000 DOE")).format(a=annual, b=top)


def _deadline(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(("Open until filled", "Applications reviewed on a rolling basis",
                           "Open until filled; first review in two weeks"))
    d = date_2025(rng)
    month = en.MONTHS[d.month - 1]
    return rng.choice((f"{month} {d.day}, {d.year}", f"{en.WEEKDAYS[d.weekday()]}, {month} {d.day}, {d.year}",
                       f"{d.year}-{d.month:02d}-{d.day:02d}", f"{d.month}/{d.day}/{d.year}",
                       f"{month} {d.day}, {d.year} at 5:00 PM"))


def _contact(rng: random.Random, place: Place, domain: str) -> tuple[str, str]:
    """(how to apply, whom to contact)."""
    phone = f"({place.area}) 555-01{rng.randrange(100):02d}"
    email = f"{rng.choice(en.EMAIL_USERS)}@{domain}"
    street = _street(rng)
    methods = [t.format(email=email, domain=domain, phone=phone, street=street) for t in rng.sample(en.APPLY, rng.randint(1, 2))]
    apply = " or ".join([methods[0]] + [m[0].lower() + m[1:] for m in methods[1:]])
    contact = rng.choice(("{f} {l}, {t} ({p})", "{f} {l} at {e}", "Call {p}", "{t}: {e}", "{f} {l}, {t} - {e} / {p}")).format(
        f=rng.choice(en.FIRST_NAMES), l=rng.choice(en.LAST_NAMES), t=rng.choice(en.CONTACT_TITLES), p=phone, e=email)
    return apply, contact


def draw(rng: random.Random) -> dict:
    """All fields of one English posting, as display strings and lists of strings."""
    role = rng.choice(en.ROLES)
    sector = role.sector
    employment = rng.choice(role.employment)
    kind, years, experience = _experience(rng, employment)
    title = _title(rng, role, kind, years)
    place = _place(rng, sector)
    company, domain, employer, desc = _company(rng, role, place)
    employment_text = draw_employment(rng, en, employment)
    requirements = some(rng, role.requirements, 2, 3)
    if kind == "exp":
        requirements.insert(0, rng.choice(("{n}+ years of experience in a similar role",
                                           "At least {n} years of relevant experience",
                                           "{n} or more years of hands-on experience")).format(n=years))
    requirements = merge(requirements, some(rng, en.GENERIC_REQUIREMENTS, 0, 2))
    preferred = merge(some(rng, role.preferred, 2, 3), some(rng, en.GENERIC_PREFERRED, 0, 1))
    benefits = some(rng, en.BENEFITS, 3, 6) + some(rng, en.SECTOR_BENEFITS.get(sector, ()), 0, 2)
    apply, contact = _contact(rng, place, domain)

    fields = dict(co=company, title=title, desc=desc, city=place.city,
                  year=rng.randint(1965, 2021), staff=rng.randint(20, 900), award_year=rng.randint(2018, 2024),
                  emp=employment_text.split(" (")[0], exp=experience, num=rng.randint(100, 999))
    intro = draw_intro(rng, en, employer, fields)
    headline = draw_headline(rng, en, employer, fields)
    headcounts = headcount_pool(rng, en, role)
    return dict(
        language="en", role_key=role.key, sector=sector, company=company, title=title, role=title, headline=headline,
        intro=intro, employment=employment_text, headcount=rng.choice(headcounts), experience=experience,
        education=fill(rng, rng.choice(role.education)), location=place.text,
        hours=draw_hours(rng, en, role), salary=_salary(rng, role, employment, years),
        deadline=_deadline(rng), duties=some(rng, role.duties, 3, 5), requirements=requirements, preferred=preferred,
        benefits=benefits, process=draw_process(rng, en, sector, employment),
        documents=some(rng, en.DOCUMENTS, 1, 3), apply=apply, contact=contact,
        notes=draw_notes(rng, en), closing=draw_closing(rng, en, fields),
    )
