"""Tests for gpt/corpus/, the synthetic job-posting generator and its registry of corpora."""

import hashlib
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpt import corpus  # noqa: E402
from gpt.corpus import CORPORA, build_corpus, corpus_names, corpus_text_path, generate_postings  # noqa: E402

# programming languages and frameworks, as whole words ("Spring Dr" is a street, so Spring is left out)
PROGRAMMING = re.compile(r"(?<![A-Za-z])(Python|Java|JavaScript|Kotlin|Swift|TypeScript|React|Django|Node\.js|C#|Go)(?![A-Za-z])")
HANGUL = re.compile(r"[가-힣]")
KO_SALARY = re.compile(r"연봉|월급|월 [\d,]+만원|시급 [\d,]+원|일급|일당|내규|협의|면접 후 결정|만원|보수 규정|단가")
KO_DEADLINE = re.compile(r"20\d\d[.년-]|\d{1,2}/\d{1,2}\(|\d{1,2}월 \d{1,2}일|상시|채용 시 마감|충원 시 마감")
KO_DUTIES = re.compile(r"주요 업무|담당\s?업무|업무 내용|주요 직무|하는 일|이런 일을 해요|하게 될 일")
KO_REQUIREMENTS = re.compile(r"자격\s?요건|지원\s?자격|필수 요건|이런 분")
KO_HOW_TO_APPLY = re.compile(r"지원 방법|접수\s?방법|지원 안내|접수 안내|지원은")
EN_SALARY = re.compile(r"\$\d|Competitive|DOE|Project-based")
EN_DEADLINE = re.compile(r"2025|Open until filled|rolling basis")


def _records(n, seed=1337, language="ko"):
    stream = corpus._records(seed, language)
    return [next(stream) for _ in range(n)]


def _expansions(item):
    """Every string a pool item like "{a|b} 기반 개발" can produce."""
    parts = re.split(r"\{([^{}]*\|[^{}]*)\}", item)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    return {"".join(combo) for combo in itertools.product(*choices)}


def _joined_bytes(postings):
    return len("\n\n".join(postings).encode("utf-8"))


# ---- determinism ---------------------------------------------------------------------------

def test_same_seed_gives_identical_text():
    assert build_corpus(60_000, seed=42) == build_corpus(60_000, seed=42)
    first = generate_postings(seed=42, language="en")
    second = generate_postings(seed=42, language="en")
    assert [next(first) for _ in range(30)] == [next(second) for _ in range(30)]


def test_different_seeds_differ():
    a, b = build_corpus(30_000, seed=1), build_corpus(30_000, seed=2)
    assert a != b
    assert len(set(a) & set(b)) == 0


def test_same_bytes_in_another_process_with_other_hash_seed():
    # load the corpus package on its own, so the check does not pay for the gpt package's other imports
    code = ("import hashlib, importlib.util, os, sys; spec = importlib.util.spec_from_file_location("
            "'c', sys.argv[1], submodule_search_locations=[os.path.dirname(sys.argv[1])]); "
            "m = importlib.util.module_from_spec(spec); sys.modules['c'] = m; spec.loader.exec_module(m); "
            "print(hashlib.sha256('\\n\\n'.join(m.build_corpus(40_000, seed=9)).encode()).hexdigest())")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, corpus.__file__], env=env, capture_output=True, text=True, check=True)
    here = hashlib.sha256("\n\n".join(build_corpus(40_000, seed=9)).encode()).hexdigest()
    assert out.stdout.strip() == here


def test_does_not_touch_global_random_state():
    import random
    random.seed(5)
    expected = random.random()
    random.seed(5)
    build_corpus(20_000)
    assert random.random() == expected


# ---- size ------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", corpus_names())
def test_build_corpus_reaches_target_without_overshooting(language):
    postings = build_corpus(200_000, language=language)
    size = _joined_bytes(postings)
    assert size >= 200_000
    assert size - 200_000 < len(postings[-1].encode("utf-8")) + 2   # stops at the first posting that reaches it
    assert _joined_bytes(postings[:-1]) < 200_000


def test_tiny_target_gives_one_posting():
    assert len(build_corpus(1)) == 1


# ---- shape and content -------------------------------------------------------------------------

@pytest.mark.parametrize("language", corpus_names())
def test_postings_are_clean_multiline_text(language):
    for _, text in _records(300, language=language):
        assert "\n\n" not in text, "a blank line inside a posting would split it in the corpus file"
        assert text == text.strip()
        assert all(line == line.rstrip() and line for line in text.split("\n"))
        assert "{" not in text and "}" not in text, "unexpanded template"
        assert text.count("\n") >= 10


def test_korean_postings_have_the_expected_fields():
    records = _records(400)
    for record, text in records:
        assert record["company"] in text and record["title"] in text
        for name, pattern in (("salary", KO_SALARY), ("deadline", KO_DEADLINE), ("duties", KO_DUTIES),
                              ("requirements", KO_REQUIREMENTS), ("how to apply", KO_HOW_TO_APPLY)):
            assert pattern.search(text), f"no {name} in:\n{text}"
        assert re.search(r"0\d{1,2}-\d{3,4}-\d{4}|@[a-z0-9]+\.", text), "no phone number or e-mail"
        for duty in record["duties"]:
            assert duty in text


def test_korean_postings_are_mostly_hangul():
    texts = [text for _, text in _records(300)]
    for text in texts:
        hangul = len(HANGUL.findall(text))
        latin = sum(ch.isascii() and ch.isalpha() for ch in text)
        assert hangul / (hangul + latin) > 0.6, text
    everything = "".join(texts)
    assert len(HANGUL.findall(everything)) > 0.35 * len(everything)


def test_korean_corpus_is_varied():
    records = _records(500)
    assert len({r["company"] for r, _ in records}) >= 200
    assert len({r["title"] for r, _ in records}) >= 100
    assert len({r["role_key"] for r, _ in records}) >= 40
    assert len({r["headline"] for r, _ in records}) >= 450
    lines = [line for _, text in records for line in text.split("\n")]
    assert len(set(lines)) / len(lines) > 0.4
    # several layouts are in use: bracketed, ■ and numbered headers
    texts = [text for _, text in records]
    assert sum("■ " in t for t in texts) > 20
    assert sum(bool(re.search(r"^\[[^\]]+\]$", t, re.M)) for t in texts) > 20
    assert sum(bool(re.search(r"^1[.)] ", t, re.M)) for t in texts) > 20


def test_english_postings():
    records = _records(300, language="en")
    for record, text in records:
        assert record["company"] in text and record["title"] in text
        assert EN_SALARY.search(text) and EN_DEADLINE.search(text), text
        assert sum(not ch.isascii() for ch in text) < 0.03 * len(text)
    assert len({r["company"] for r, _ in records}) >= 150
    assert len({r["title"] for r, _ in records}) >= 80
    lines = [line for _, text in records for line in text.split("\n")]
    assert len(set(lines)) / len(lines) > 0.3


# ---- role-specific pools --------------------------------------------------------------------------

@pytest.mark.parametrize("language", corpus_names())
def test_programming_languages_only_in_it_postings(language):
    records = _records(900, language=language)
    nurses = [text for record, text in records if record["role_key"] == "nurse"]
    assert len(nurses) >= 5
    it_mentions = 0
    for record, text in records:
        mentions = PROGRAMMING.findall(text)
        if record["sector"] != "it":
            assert not mentions, f"{record['role_key']} posting mentions {mentions}:\n{text}"
        it_mentions += bool(mentions)
    assert it_mentions >= 20, "the IT postings should name languages, or this test proves nothing"
    if language == "ko":
        assert all("간호" in text for text in nurses)


@pytest.mark.parametrize("language", corpus_names())
def test_duties_requirements_and_skills_come_from_the_roles_own_pools(language):
    roles = {role.key: role for role in CORPORA[language].pools.ROLES}
    for record, _ in _records(400, language=language):
        role = roles[record["role_key"]]
        duties = set().union(*(_expansions(d) for d in role.duties))
        assert set(record["duties"]) <= duties
        skills = set().union(*(_expansions(p) for p in role.preferred))
        own_skills = [p for p in record["preferred"] if p in skills]
        assert len(own_skills) >= 2 or len(own_skills) == len(role.preferred)


def test_role_keys_are_unique():
    for entry in CORPORA.values():
        keys = [role.key for role in entry.pools.ROLES]
        assert len(keys) == len(set(keys))


# ---- the registry ---------------------------------------------------------------------------------------

def test_registry_lists_korean_then_english_and_names_their_text_files(tmp_path):
    assert corpus_names() == ("ko", "en")
    assert tuple(CORPORA) == ("ko", "en") and CORPORA["en"].name == "en"
    assert corpus_text_path(tmp_path, "ko") == tmp_path / "job_postings_ko.txt"
    assert corpus_text_path(str(tmp_path), "en") == tmp_path / "job_postings_en.txt"


# ---- bad arguments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [lambda: corpus_text_path("data", "ja"), lambda: build_corpus(1000, language="ja")])
def test_unknown_corpus_is_refused_naming_the_known_ones(call):
    with pytest.raises(ValueError, match=r"unknown language 'ja': choose one of ko, en"):
        call()


@pytest.mark.parametrize("call", [
    lambda: generate_postings(language="fr"),
    lambda: build_corpus(1000, language="jp"),
    lambda: build_corpus(1000, language="KO"),
])
def test_unknown_language_is_rejected_at_call_time(call):
    with pytest.raises(ValueError, match="language"):
        call()


@pytest.mark.parametrize("size", [0, -5, 1.5, "100", True, None])
def test_bad_target_bytes_is_rejected(size):
    with pytest.raises(ValueError, match="target_bytes"):
        build_corpus(size)
