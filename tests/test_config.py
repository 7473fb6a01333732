"""Config: the original recipe's defaults and a plain-words message for every bad value."""

from __future__ import annotations

import dataclasses
import math

import pytest

from pathlib import Path

from gpt.config import ARCHITECTURE_FIELDS, MAX_VOCAB_SIZE, MIN_VOCAB_SIZE, Config, ConfigError, run_name_problem

ORIGINAL_RECIPE = dict(
    block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.1, batch_size=16, lr=3e-4, max_steps=20000,
    eval_interval=500, eval_iters=100, grad_clip=1.0, sample_every_eval=True, sample_max_new_tokens=250,
    temperature=0.9, top_k=50, train_bin="data/train.bin", val_bin="data/val.bin", tok_path="data/tokenizer.json",
    out_dir="checkpoints",
)


def test_defaults_are_the_original_recipe():
    cfg = Config()
    for name, value in ORIGINAL_RECIPE.items():
        assert getattr(cfg, name) == value, name
    assert cfg.lr_schedule == "constant" and cfg.warmup_steps == 0  # the recipe's plain constant lr
    assert cfg.weight_decay == 0.01  # torch's AdamW default


def test_defaults_validate_cleanly():
    assert Config().problems() == []
    Config().validate()
    Config().validate(train_tokens=10_000, val_tokens=1_000)


# (changes, field reported, substring of the message)
BAD_VALUES = [
    (dict(block_size=0), "block_size", "block_size must be a positive whole number, got 0"),
    (dict(block_size=2.5), "block_size", "block_size must be a positive whole number, got 2.5"),
    (dict(n_layer=-1), "n_layer", "n_layer must be a positive whole number, got -1"),
    (dict(n_head=0), "n_head", "n_head must be a positive whole number, got 0"),
    (dict(n_embd=0), "n_embd", "n_embd must be a positive whole number, got 0"),
    (dict(batch_size=0), "batch_size", "batch_size must be a positive whole number, got 0"),
    (dict(grad_accum_steps=0), "grad_accum_steps", "grad_accum_steps must be a positive whole number, got 0"),
    (dict(max_steps=0), "max_steps", "max_steps must be a positive whole number, got 0"),
    (dict(eval_interval=0), "eval_interval", "eval_interval must be a positive whole number, got 0"),
    (dict(eval_iters=-5), "eval_iters", "eval_iters must be a positive whole number, got -5"),
    (dict(log_interval=0), "log_interval", "log_interval must be a positive whole number, got 0"),
    (dict(sample_max_new_tokens=0), "sample_max_new_tokens", "sample_max_new_tokens must be at least 1, got 0"),
    (dict(warmup_steps=-1), "warmup_steps", "warmup_steps cannot be negative, got -1"),
    (dict(n_head=5), "n_embd", "n_embd (384) must be divisible by n_head (5)"),
    (dict(n_embd=100, n_head=3), "n_embd", "n_embd (100) must be divisible by n_head (3)"),
    (dict(dropout=1.0), "dropout", "dropout must be in [0, 1), got 1.0"),
    (dict(dropout=-0.1), "dropout", "dropout must be in [0, 1), got -0.1"),
    (dict(lr=0.0), "lr", "lr must be a positive number, got 0.0"),
    (dict(lr=-1e-3), "lr", "lr must be a positive number, got -0.001"),
    (dict(lr=math.nan), "lr", "lr must be a positive number, got nan"),
    (dict(lr=2.0), "lr", "lr 2.0 is far too high for AdamW and will diverge; try 3e-4"),
    (dict(min_lr=1e-3), "min_lr", "min_lr must be between 0 and lr (0.0003), got 0.001"),
    (dict(min_lr=-1e-5), "min_lr", "min_lr must be between 0 and lr (0.0003), got -1e-05"),
    (dict(grad_clip=-1.0), "grad_clip", "grad_clip must be zero (off) or positive, got -1.0"),
    (dict(grad_clip=math.inf), "grad_clip", "grad_clip must be zero (off) or positive, got inf"),
    (dict(weight_decay=-0.1), "weight_decay", "weight_decay must be between 0 and 1, got -0.1"),
    (dict(weight_decay=2.0), "weight_decay", "weight_decay must be between 0 and 1, got 2.0"),
    (dict(temperature=-0.5), "temperature", "temperature must be zero (greedy) or positive, got -0.5"),
    (dict(temperature=math.nan), "temperature", "temperature must be zero (greedy) or positive, got nan"),
    (dict(top_k=-1), "top_k", "top_k must be zero (off) or positive, got -1"),
    (dict(vocab_size=256), "vocab_size", f"vocab_size must be between {MIN_VOCAB_SIZE}"),
    (dict(vocab_size=MAX_VOCAB_SIZE + 1), "vocab_size", f"got {MAX_VOCAB_SIZE + 1}"),
    (dict(val_fraction=0.0), "val_fraction", "val_fraction must be between 0 and 0.5, got 0.0"),
    (dict(val_fraction=0.5), "val_fraction", "val_fraction must be between 0 and 0.5, got 0.5"),
    (dict(eval_interval=600, max_steps=500), "eval_interval",
     "eval_interval (600) is larger than max_steps (500): no evaluation would ever run"),
    (dict(lr_schedule="cosine", warmup_steps=20000), "warmup_steps",
     "warmup_steps (20000) must be smaller than max_steps (20000)"),
    (dict(lr_schedule="linear"), "lr_schedule", "lr_schedule must be one of constant, cosine, got 'linear'"),
    (dict(builtin_corpus="fr"), "builtin_corpus", "builtin_corpus must be one of ko, en, got 'fr'"),
    (dict(device="tpu"), "device", "device must be one of auto, cpu, cuda, mps, got 'tpu'"),
    (dict(dtype="float64"), "dtype", "dtype must be one of auto, float32, bfloat16, float16, got 'float64'"),
    (dict(train_bin=""), "train_bin", "train_bin cannot be empty"),
    (dict(val_bin="  "), "val_bin", "val_bin cannot be empty"),
    (dict(tok_path=""), "tok_path", "tok_path cannot be empty"),
    (dict(out_dir=""), "out_dir", "out_dir cannot be empty"),
    (dict(run_name="../etc"), "run_name", "run name '../etc' contains '/': a run name may only use letters, digits, "
                                          "'-', '_', '.' and spaces, cannot start with '.' or a space"),
    (dict(run_name="/abs/path"), "run_name", "run name '/abs/path' contains '/'"),
    (dict(run_name="..\\x"), "run_name", "run name '..\\x' contains '\\'"),
    (dict(run_name="C:x"), "run_name", "contains ':'"),
    (dict(run_name="a\x00b"), "run_name", "contains '\\x00'"),
    (dict(run_name=".."), "run_name", "run name '..' contains '..'"),
    (dict(run_name=".hidden"), "run_name", "starts with '.'"),
    (dict(run_name=" x"), "run_name", "starts with a space"),
    (dict(run_name="x "), "run_name", "ends with a space"),
    (dict(run_name="ckpt.pt"), "run_name", "ends with '.pt', like the default run's checkpoint files"),
    (dict(run_name="nul"), "run_name", "is a device name on Windows"),
    (dict(run_name="x" * 65), "run_name", "is 65 characters long: a run name may only use"),
    (dict(run_name=3), "run_name", "run name must be text, got 3"),
]


@pytest.mark.parametrize("changes, field, expected", BAD_VALUES, ids=[f"{f}:{c}" for c, f, _ in BAD_VALUES])
def test_every_bad_value_is_explained(changes, field, expected):
    cfg = Config(**changes)
    found = cfg.problems()
    assert any(name == field and expected in message for name, message in found), found
    with pytest.raises(ConfigError) as raised:
        cfg.validate()
    assert expected in str(raised.value)
    assert (field, next(m for n, m in found if n == field and expected in m)) in raised.value.problems


def test_every_message_in_problems_is_covered_by_the_table():
    """Each distinct check in problems() has a row above (counted by the fields it reports)."""
    covered = {field for _, field, _ in BAD_VALUES}
    checked = {"block_size", "n_layer", "n_head", "n_embd", "batch_size", "grad_accum_steps", "max_steps", "eval_interval", "eval_iters",
               "log_interval", "sample_max_new_tokens", "warmup_steps", "dropout", "lr", "min_lr", "grad_clip",
               "weight_decay", "temperature", "top_k", "vocab_size", "val_fraction", "lr_schedule", "builtin_corpus",
               "device", "dtype", "train_bin", "val_bin", "tok_path", "out_dir", "run_name"}
    assert checked <= covered


@pytest.mark.parametrize("name", ["실험-1", "run 1", "v1.2_b-c", "x" * 64, "प्रयोग", "-x"])
def test_run_names_of_letters_digits_and_inner_punctuation_are_fine(name):
    assert Config(run_name=name).problems() == []
    assert Config(run_name=name, out_dir="runs/out").run_dir == Path("runs/out") / name


def test_the_default_run_keeps_its_checkpoints_directly_in_out_dir():
    assert Config().run_name == "" and Config().run_dir == Path("checkpoints")
    assert Config(out_dir="/tmp/somewhere").run_dir == Path("/tmp/somewhere")


def test_a_bad_run_name_never_becomes_a_folder():
    with pytest.raises(ConfigError) as raised:
        Config(run_name="../../etc").run_dir
    assert raised.value.problems[0][0] == "run_name" and "names a folder inside checkpoints/" in str(raised.value)


def test_a_run_folder_that_leads_outside_out_dir_is_refused(tmp_path):
    """Defence in depth: even a valid name is refused when its folder resolves outside out_dir (a symlink)."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "checkpoints" / "linked").symlink_to(tmp_path / "elsewhere")
    problem = run_name_problem("linked", str(tmp_path / "checkpoints"))
    assert problem is not None and "leads outside" in problem
    assert run_name_problem("inside", str(tmp_path / "checkpoints")) is None


def test_several_problems_are_all_reported():
    cfg = Config(n_layer=0, dropout=2.0, top_k=-3)
    fields = [name for name, _ in cfg.problems()]
    assert {"n_layer", "dropout", "top_k"} <= set(fields)
    with pytest.raises(ConfigError) as raised:
        cfg.validate()
    assert "n_layer" in str(raised.value) and "dropout" in str(raised.value) and "top_k" in str(raised.value)


def test_warmup_longer_than_max_steps_is_fine_for_the_constant_schedule():
    assert Config(warmup_steps=30000).problems() == []


def test_boundary_values_are_accepted():
    assert Config(dropout=0.0, grad_clip=0.0, top_k=0, temperature=0.0, lr=1.0, min_lr=0.0, weight_decay=0.0,
                  vocab_size=MIN_VOCAB_SIZE).problems() == []
    assert Config(vocab_size=MAX_VOCAB_SIZE, eval_interval=20000).problems() == []


@pytest.mark.parametrize("block_size, train_tokens, val_tokens, bad", [
    (256, 257, 257, set()),
    (256, 256, 10_000, {"train"}),
    (256, 10_000, 256, {"val"}),
    (256, 100, 50, {"train", "val"}),
])
def test_block_size_needs_more_tokens_than_the_window(block_size, train_tokens, val_tokens, bad):
    found = [m for n, m in Config(block_size=block_size).problems(train_tokens, val_tokens) if n == "block_size"]
    assert len(found) == len(bad)
    if "train" in bad:
        assert any(f"needs more than {block_size} training tokens, but the training split has {train_tokens:,}" in m
                   for m in found)
    if "val" in bad:
        assert any(f"needs more than {block_size} validation tokens, but the validation split has {val_tokens:,}" in m
                   for m in found)


def test_token_counts_are_only_checked_when_given():
    assert Config(block_size=256).problems() == []
    assert Config(block_size=256).problems(train_tokens=10) != []


def test_architecture_lists_the_shape_fields():
    cfg = Config(n_layer=3)
    assert cfg.architecture() == {name: getattr(cfg, name) for name in ARCHITECTURE_FIELDS}
    assert set(ARCHITECTURE_FIELDS) == {"vocab_size", "block_size", "n_layer", "n_head", "n_embd"}


def test_dict_round_trip_ignores_unknown_keys():
    cfg = Config(n_layer=2, lr=1e-3, device="cpu")
    values = cfg.to_dict()
    assert Config.from_dict(values) == cfg
    assert Config.from_dict({**values, "field_from_the_future": 1}) == cfg
    assert Config.from_dict({"n_layer": 3}) == Config(n_layer=3)  # missing keys take the defaults


def test_replace_returns_a_new_config():
    cfg = Config()
    changed = cfg.replace(n_layer=2)
    assert changed.n_layer == 2 and cfg.n_layer == 6


def test_config_error_keeps_the_pairs():
    error = ConfigError([("a", "first"), ("b", "second")])
    assert error.problems == [("a", "first"), ("b", "second")]
    assert str(error) == "first; second"
    assert isinstance(error, ValueError)
