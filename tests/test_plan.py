"""The plan shown before a run: tokens per parameter against ~20, and passes over the data."""

from __future__ import annotations

from gpt.config import Config
from gpt.locales import in_language
from gpt.model import count_parameters
from gpt.plan import MANY_PASSES, Plan


def test_tokens_per_parameter_and_passes_follow_from_the_config_and_the_data():
    cfg = Config(n_layer=2, n_head=2, n_embd=64, block_size=64, batch_size=8, max_steps=1000, vocab_size=1000)
    plan = Plan.of(cfg, train_tokens=256_000)
    assert plan.tokens == 1000 * 8 * 64
    assert plan.tokens_per_parameter == plan.tokens / count_parameters(cfg)
    assert plan.passes == 2.0 and not plan.sees_the_data_many_times
    text = in_language(plan.describe(), "en")
    assert "512,000 tokens" in text and "2.0 passes over the 256,000 training tokens" in text
    assert "compute-optimal is about 20" in text and "overfitting" not in text


def test_many_passes_warn_of_overfitting_in_both_languages():
    cfg = Config(n_layer=1, n_head=1, n_embd=16, block_size=32, batch_size=4, max_steps=5000, vocab_size=300)
    plan = Plan.of(cfg, train_tokens=10_000)
    assert plan.passes > MANY_PASSES and plan.sees_the_data_many_times
    assert "overfitting is likely" in in_language(plan.describe(), "en")
    assert "과적합" in in_language(plan.describe(), "ko")


def test_the_verdict_compares_with_compute_optimal():
    small_run = Plan(tokens=1_000, parameters=1_000_000, train_tokens=None)
    optimal = Plan(tokens=20_000_000, parameters=1_000_000, train_tokens=None)
    long_run = Plan(tokens=400_000_000, parameters=1_000_000, train_tokens=None)
    assert "well below compute-optimal" in in_language(small_run.describe(), "en")
    assert "about compute-optimal" in in_language(optimal.describe(), "en")
    assert "a bigger model would use this compute better" in in_language(long_run.describe(), "en")
    assert "known once data is prepared" in in_language(small_run.describe(), "en")
