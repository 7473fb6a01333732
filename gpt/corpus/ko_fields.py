"""How a Korean posting's fields are drawn from the pools in ko.py: the rules that are not data.

Korean needs a few of its own: particles that follow the sound of the word before them (은/는,
이/가, 을/를, 과/와), pay in 만원 or by the hour, addresses down to the 동 with the nearest subway
station, phone numbers by area code, and the way small shops and public bodies take applications.
`draw` is the entry point: it returns one posting's fields for layout.py to write out.
"""

from __future__ import annotations

import datetime
import random

from . import ko
from .compose import (Place, date_2025, draw_closing, draw_employment, draw_headline, draw_hours, draw_intro,
                      draw_notes, draw_process, fill, headcount_pool, merge, some, tidy)
from .schema import Employer, Role

_WEIGHTED_REGIONS = tuple(region for region, weight in zip(ko.REGIONS, ko.REGION_WEIGHTS) for _ in range(weight))
_CAPITAL_REGIONS = tuple(region for region in ko.REGIONS if region.short_name in ("서울", "경기"))
_REGION_BY_SHORT_NAME = {region.short_name: region for region in ko.REGIONS}


def _has_final_consonant(word: str) -> bool:
    """Does the word, as read aloud, end in a consonant (받침)? Decides 은/는, 이/가, 을/를, 과/와."""
    for ch in reversed(word):
        if "가" <= ch <= "힣":
            return (ord(ch) - 0xAC00) % 28 != 0
        if ch.isdigit():
            return ch in "013678"
        if ch.isascii() and ch.isalpha():
            return ch.lower() in "lmn"
    return False


def _josa(word: str, with_final: str, without_final: str) -> str:
    return word + (with_final if _has_final_consonant(word) else without_final)


def _experience(rng: random.Random, employment: str) -> tuple[str, int, str]:
    """(kind, minimum years, display text); kind is new, exp, any or newexp."""
    if employment == "intern":
        kind = "new"
    elif employment in ("part", "daily"):
        kind = rng.choice(("any", "any", "any", "new"))
    else:
        kind = rng.choice(("new", "new", "exp", "exp", "exp", "exp", "any", "any", "newexp"))
    years = 0
    if kind == "new":
        text = rng.choice(("신입", "신입", "신입 (졸업예정자 가능)", "신입 (경력 2년 미만 포함)"))
    elif kind == "exp":
        years = rng.choice((1, 1, 2, 2, 3, 3, 3, 4, 5, 5, 7, 10))
        text = rng.choice(("경력 {n}년 이상", "경력 {n}년↑", "경력 {n}~{m}년", "관련 경력 {n}년 이상", "경력 {n}년 이상"))
        text = text.format(n=years, m=years + rng.choice((2, 3, 5)))
    elif kind == "any":
        text = rng.choice(("경력무관", "경력 무관 (초보 가능)", "신입·경력 무관", "경력무관"))
    else:
        text = rng.choice(("신입/경력", "신입 및 경력", "신입·경력 (경력자 우대)"))
    return kind, years, text


def _title(rng: random.Random, role: Role, kind: str, years: int, employment: str) -> str:
    title = fill(rng, rng.choice(role.titles))
    r = rng.random()
    if kind == "new" and r < 0.3:
        return rng.choice(("신입 {t}", "{t} (신입)", "{t} 신입사원")).format(t=title)
    if kind == "exp" and years >= 5 and role.sector in ("it", "office", "creative", "mfg") and r < 0.35:
        return rng.choice(("시니어 {t}", "{t} (시니어)", "{t} 팀장급", "{t} (경력 {n}년 이상)")).format(t=title, n=years)
    if kind == "exp" and years <= 3 and role.sector == "it" and r < 0.25:
        return "주니어 " + title
    if kind == "exp" and r < 0.2:
        return rng.choice(("경력 {t}", "{t} (경력)", "{t} 경력직")).format(t=title)
    if employment == "part" and r < 0.4:
        return rng.choice(("{t} (파트타임)", "{t} 아르바이트", "{t} 파트타이머")).format(t=title)
    if role.key in ko.TEAM_ROLES and r > 0.8:
        return f"[{rng.choice(ko.TEAMS)}{rng.choice(('팀', '실', ' 플랫폼팀', ' 셀'))}] {title}"
    return title


def _place(rng: random.Random, sector: str) -> Place:
    if sector == "mfg" and rng.random() < 0.35:
        short_name, district, complex_name = rng.choice(ko.INDUSTRIAL)
        region = _REGION_BY_SHORT_NAME[short_name]
        roman = next(r for d, r, _ in region.districts if d == district)
        name = region.full_name if rng.random() < 0.5 else short_name
        text = f"{name} {district} {complex_name}" + rng.choice(("", "", " 내", " (공장)"))
    else:
        pool = _CAPITAL_REGIONS if sector == "it" and rng.random() < 0.5 else _WEIGHTED_REGIONS
        region = rng.choice(pool)
        district, roman, dongs = rng.choice(region.districts)
        parts = [region.full_name if rng.random() < 0.5 else region.short_name, district]
        if rng.random() < 0.6:
            parts.append(rng.choice(dongs.split()))
        text = " ".join(p for p in parts if p)
        if region.short_name == "서울" and district in ko.SUBWAY and rng.random() < 0.35:
            text += f" ({rng.choice(ko.SUBWAY[district])} 도보 {rng.randint(1, 15)}분)"
        elif rng.random() < 0.12:
            text += rng.choice((" (본사)", " (지점)", " 일대", " (사업장)"))
    base = district.split()[0] if district else "세종시"
    local = base[:-1] if len(base) >= 3 and base[-1] in "시구군" else base
    city = f"{region.short_name} {base}" if district else region.short_name
    return Place(text, city, region.area_code, roman, base, local)


def _company(rng: random.Random, role: Role, place: Place) -> tuple[str, str, Employer, str]:
    """(company name, web domain, employer kind, description) for an employer that hires this role."""
    employer = ko.EMPLOYERS[rng.choice(role.companies)]
    form = rng.choice(employer.forms)
    template, tail = form[0], form[1]
    desc = form[2] if len(form) > 2 else rng.choice(employer.descs)
    if template.startswith("{l}{p}") and (len(place.local) != 2 or place.local == place.base or rng.random() < 0.5):
        template = template[3:]                      # the place prefix is optional and needs a two-syllable name
    prefix, roman = rng.choice(ko.COMPANY_PREFIXES)
    name = template.format(p=prefix, c=place.base, l=place.local)
    if "{p}" not in template:                        # named after the city: a public body or a welfare centre
        return name, place.roman + (".go.kr" if tail == "go" else tail + ".or.kr"), employer, desc
    if employer.corporate and not name.startswith(ko.NO_LEGAL_FORM):
        name = rng.choice(ko.LEGAL_FORMS).format(n=name)
    tlds = (".co.kr", ".com", ".kr", ".co.kr") if employer.corporate else (".kr", ".co.kr", ".com")
    return name, roman + tail + rng.choice(tlds), employer, desc


def _salary(rng: random.Random, role: Role, employment: str, years: int) -> str:
    low, high = role.pay
    span = high - low
    annual = int((low + span * 0.7 * min(years, 10) / 10 + rng.random() * span * 0.3) / 50) * 50
    monthly = int(annual / 12 / 5) * 5
    if employment == "part":
        wage = 10030 if rng.random() < 0.3 else rng.randrange(105, 160, 5) * 100
        return rng.choice(("시급 {w}원", "시급 {w}원 (주휴수당 별도)", "시급 {w}원 이상", "시급 {w}원, 주휴수당 포함",
                           "시급 {w}원 (수습 기간 동일)")).format(w=f"{wage:,}")
    if employment == "daily":
        day = rng.randrange(13, 27)
        return rng.choice(("일급 {d}만원", "일당 {d}만원 (당일 지급)", "일급 {d}만원 이상, 경력에 따라 협의")).format(d=day)
    if employment == "intern":
        return rng.choice(("월 {m}만원", "인턴 기간 월 {m}만원 (정규직 전환 시 연봉 {a}만원)", "월 {m}만원 (세전)")).format(
            m=rng.randrange(200, 285, 5), a=f"{annual:,}")
    if employment == "freelance":
        return rng.choice(("프로젝트 단가 협의", "월 {m}만원 (3.3% 공제)", "건당 협의", "경력에 따라 협의")).format(m=f"{monthly:,}")
    r = rng.random()
    if r < 0.2:
        if role.sector == "public":
            return rng.choice(("기관 보수 규정에 따름", "생활임금 적용 (월 {m}만원 내외)")).format(m=monthly)
        return rng.choice(("회사 내규에 따름", "면접 후 결정", "협의 후 결정", "회사 내규에 따름 (경력 우대)", "면접 시 협의",
                           "연봉 협상 가능"))
    hands_on = role.sector in ("mfg", "food", "retail", "service", "logistics", "construction", "health", "public")
    if r < (0.6 if hands_on else 0.3):
        return rng.choice(("월 {m}만원", "월급 {m}만원 (세전)", "월 {m}만원 + 수당 별도", "기본급 {b}만원 + 각종 수당 (월 평균 {m}만원)",
                           "월 {m}만원 이상")).format(m=f"{monthly:,}", b=f"{int(monthly * 0.8 / 5) * 5:,}")
    top = annual + rng.choice((300, 500, 600, 1000))
    forms = ["연봉 {a}만원", "연봉 {a}만원 ~ {b}만원", "연봉 {a}만원 이상", "연봉 {a}만원 (성과급 별도)",
             "연봉 {a}~{b}만원 (경력에 따라 협의)", "연 {a}만원 (세전)", "연봉 {a}만원 이상, 면접 후 결정"]
    if years == 0:
        forms.append("신입 기준 연봉 {a}만원")
    return rng.choice(forms).format(a=f"{annual:,}", b=f"{top:,}")


def _deadline(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(("상시채용", "채용 시 마감", "상시 모집", "충원 시 마감", "상시채용 (채용 시 마감)"))
    d = date_2025(rng)
    wd = ko.WEEKDAYS[d.weekday()]
    start = d - datetime.timedelta(days=rng.randrange(7, 31))
    return rng.choice((
        f"{d.year}년 {d.month}월 {d.day}일 ({wd})", f"{d.year}.{d.month:02d}.{d.day:02d}({wd}) 23:59",
        f"{d.year}년 {d.month}월 {d.day}일까지", f"~ {d.month}/{d.day}({wd}) 18:00", f"{d.year}-{d.month:02d}-{d.day:02d}",
        f"{d.year}년 {d.month}월 {d.day}일 (채용 시 조기 마감)",
        f"{start.year}.{start.month:02d}.{start.day:02d} ~ {d.year}.{d.month:02d}.{d.day:02d}",
        f"{d.month}월 {d.day}일({wd}) 자정까지"))


def _phone(rng: random.Random, area: str) -> str:
    if area == "02" or rng.random() < 0.5:
        return f"{area}-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
    return f"{area}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def _contact(rng: random.Random, role: Role, employer: Employer, company: str, domain: str, area: str,
             part_time: bool) -> tuple[str, str]:
    """(how to apply, whom to contact)."""
    phone = _phone(rng, area)
    mobile = f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
    email = (f"{rng.choice(ko.EMAIL_USERS)}@{domain}" if rng.random() < 0.8 or employer.formal
             else f"{domain.split('.')[0]}{rng.randint(1, 99)}@{rng.choice(ko.FREEMAIL)}")
    surname = rng.choice(ko.SURNAMES)
    if employer.small:
        title_pool, forms = ko.SMALL_TITLES.get(role.sector, ko.SMALL_TITLES["default"]), ko.SMALL_CONTACT_FORMS
    else:
        title_pool, forms = ko.CONTACT_TITLES, (ko.PART_CONTACT_FORMS if part_time and rng.random() < 0.5 else ko.CONTACT_FORMS)
    dept = rng.choice(employer.depts if employer.depts and (employer.formal or rng.random() < 0.5) else ko.DEPTS)
    fields = dict(dept=dept, name=surname + rng.choice(ko.GIVEN_NAMES), ptitle=rng.choice(title_pool), phone=phone,
                  mobile=mobile, email=email, masked=surname + rng.choice(("OO", "○○", "**")), domain=domain, c=company)
    if employer.formal:
        pool = ko.PUBLIC_APPLY
    else:
        pool = ko.APPLY + (ko.PART_APPLY if part_time or employer.small else ())
    apply = rng.choice((" 또는 ", ", ", " / ")).join(t.format(**fields) for t in rng.sample(pool, rng.randint(1, 2)))
    return apply, tidy(fill(rng, rng.choice(forms)).format(**fields))


def draw(rng: random.Random) -> dict:
    """All fields of one Korean posting, as display strings and lists of strings."""
    role = rng.choice(ko.ROLES)
    sector = role.sector
    employment = rng.choice(role.employment)
    kind, years, experience = _experience(rng, employment)
    title = _title(rng, role, kind, years, employment)
    place = _place(rng, sector)
    company, domain, employer, desc = _company(rng, role, place)
    employment_text = draw_employment(rng, ko, employment)
    part_time = employment in ("part", "daily")

    education = fill(rng, rng.choice(role.education))
    if kind == "new" and "이상" in education and rng.random() < 0.3:
        education += " (졸업예정자 가능)"
    requirements = some(rng, role.requirements, 2, 4)
    if kind == "exp" and rng.random() < 0.6:
        requirements.insert(0, rng.choice(("관련 경력 {n}년 이상인 분", "해당 직무 경력 {n}년 이상", "{n}년 이상의 실무 경험을 보유한 분"))
                            .format(n=years))
    requirements = merge(requirements, some(rng, ko.GENERIC_REQUIREMENTS, 0, 2))
    preferred = merge(some(rng, role.preferred, 2, 4), some(rng, ko.GENERIC_PREFERRED, 0, 2))
    benefits = (some(rng, ko.BENEFITS, 3, 6) + some(rng, ko.SECTOR_BENEFITS.get(sector, ()), 1, 3)
                + some(rng, employer.perks, 0, 2))
    if rng.random() < 0.6:
        benefits = merge(["4대보험", "퇴직금"][: rng.randint(1, 2)], benefits)
    if employment == "part" and rng.random() < 0.5:
        benefits = merge(benefits, ["주휴수당"])
    apply, contact = _contact(rng, role, employer, company, domain, place.area, part_time)
    headcounts = headcount_pool(rng, ko, role)

    fields = dict(co=company, co_은=_josa(company, "은", "는"), co_와=_josa(company, "과", "와"), title=title,
                  title_을=_josa(title, "을", "를"), year=rng.randint(1978, 2022), desc=desc,
                  staff=rng.randint(3, 30) if employer.small else rng.randint(10, 900), sales=f"{rng.randint(10, 2000):,}",
                  award=rng.choice(ko.AWARDS), region=place.city, emp=employment_text.split(" (")[0], exp=experience,
                  city=place.city, half=rng.choice(("상반기", "하반기")), num=rng.randint(1, 480))
    fields["age"] = max(2025 - fields["year"], 3)
    headline = draw_headline(rng, ko, employer, fields)

    return dict(
        language="ko", role_key=role.key, sector=sector, company=company, title=title, role=title, headline=headline,
        intro=draw_intro(rng, ko, employer, fields), employment=employment_text, headcount=rng.choice(headcounts),
        experience=experience, education=education, location=place.text,
        hours=draw_hours(rng, ko, role), salary=_salary(rng, role, employment, years),
        deadline=_deadline(rng), duties=some(rng, role.duties, 3, 6), requirements=requirements, preferred=preferred,
        benefits=benefits, process=draw_process(rng, ko, sector, employment),
        documents=some(rng, ko.DOCUMENTS, 1, 3) + some(rng, ko.SECTOR_DOCUMENTS.get(sector, ()), 0, 1),
        apply=apply, contact=contact, notes=draw_notes(rng, ko), closing=draw_closing(rng, ko, fields),
    )
