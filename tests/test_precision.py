"""Every number type, whatever the CPU: float32, bfloat16 and float16 forced through what a user does.

CPU autocast runs bfloat16 and float16 on any x86 CPU (slowly where there is no native support),
so tiny models exercise those paths on every machine. `auto` is decided by the CPU's features,
which these tests replace, so no test passes or fails because of the machine it runs on. The
GPU's own paths that a CPU can run (float16 with loss scaling, torch.compile, the fused AdamW)
run here too.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

import gpt.device
from gpt.checkpoint import load_checkpoint
from gpt.config import Config
from gpt.device import CpuFeatures, choose_dtype
from gpt.locales import LANGUAGES, text
from gpt.model import GPT
from gpt.inference import load_model
from gpt.sampling import SamplingOptions
from gpt.train import Evaluated, Finished, Sampled, Started, train_step

from conftest import HAS_INT4, precisions, run_training, tiny_config
from test_cli import TINY_RUN, assert_one_line_error, copy_data, run_script

DTYPES = ["float32", "bfloat16", "float16"]


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------------------------------------
# What `auto` picks, and why


CPUS = {
    "avx2 only": (CpuFeatures(avx2=True, avx512=False, avx512_bf16=False, amx=False), torch.float32, "cpu_no_bf16"),
    "zen 4": (CpuFeatures(avx2=True, avx512=True, avx512_bf16=True, amx=False), torch.bfloat16, "cpu_avx512_bf16"),
    "sapphire rapids": (CpuFeatures(avx2=True, avx512=True, avx512_bf16=True, amx=True), torch.bfloat16, "cpu_amx"),
    "no avx": (CpuFeatures(avx2=False, avx512=False, avx512_bf16=False, amx=False), torch.float32, "cpu_no_bf16"),
}


@pytest.mark.parametrize("cpu", CPUS)
def test_auto_follows_the_cpu_features_and_says_why_in_every_language(monkeypatch, cpu):
    features, expected, reason = CPUS[cpu]
    monkeypatch.setattr(gpt.device, "cpu_features", lambda: features)
    choices = {choose_dtype(torch.device("cpu"), "auto") for _ in range(5)}
    assert choices == {gpt.device.DtypeChoice(expected, reason)}  # the same every time: no timing involved
    for language in LANGUAGES:
        assert text(f"dtype_reason.{reason}", language)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_requested_type_is_used_whatever_the_cpu(monkeypatch, dtype):
    monkeypatch.setattr(gpt.device, "cpu_features", lambda: CPUS["avx2 only"][0])
    assert choose_dtype(torch.device("cpu"), dtype) == gpt.device.DtypeChoice(getattr(torch, dtype), "requested")


def test_cpu_features_name_the_instruction_sets():
    described = str(gpt.device.cpu_features())
    for name in ("avx2", "avx512", "avx512_bf16", "amx"):
        assert f"{name} yes" in described or f"{name} no" in described


def test_without_torchs_probes_the_features_come_from_the_kernels_cpu_flags(monkeypatch):
    """torch 2.4 lacks torch.cpu._is_avx512_bf16_supported and the rest: the run could not start there."""
    for name in [name for name in dir(torch.cpu) if name.startswith(("_is_", "_is_cpu_support_"))]:
        monkeypatch.delattr(torch.cpu, name)
    monkeypatch.setattr(gpt.device, "_linux_cpu_flags", lambda: frozenset({"fpu", "avx2", "avx512f", "amx_tile"}))
    assert gpt.device.cpu_features() == gpt.device.CpuFeatures(avx2=True, avx512=True, avx512_bf16=False, amx=True)
    monkeypatch.setattr(gpt.device, "_linux_cpu_flags", lambda: frozenset())  # not Linux: none claimed
    assert not gpt.device.cpu_features().native_bfloat16
    assert choose_dtype(torch.device("cpu"), "auto").dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# Training, samples, resume and best.pt in each type


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_run_samples_at_each_evaluation_resumes_and_keeps_its_best_in_every_type(cfg, dtype):
    cfg = cfg.replace(dtype=dtype, max_steps=20, eval_interval=10, sample_every_eval=True)
    events = run_training(cfg)
    started = of(events, Started)[0]
    assert started.dtype == dtype and started.dtype_reason == "requested"
    assert [e.step for e in of(events, Sampled)] == [0, 10, 20]
    assert all(sample.text for sample in of(events, Sampled))
    evaluations = of(events, Evaluated)
    assert all(math.isfinite(e.val_loss) for e in evaluations)
    assert evaluations[-1].val_loss < math.log(cfg.vocab_size)  # it learned something
    assert events[-1].reason == "done", events[-1]

    resumed = run_training(cfg.replace(max_steps=30))
    assert of(resumed, Started)[0].resumed and of(resumed, Started)[0].step == 20
    assert [e.step for e in of(resumed, Sampled)] == [30]
    assert resumed[-1].reason == "done" and resumed[-1].step == 30
    best = load_checkpoint(f"{cfg.out_dir}/best.pt")
    assert best["step"] in (10, 20, 30) and best["val_loss"] == min(
        e.val_loss for e in evaluations + of(resumed, Evaluated))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("precision", precisions("float32", "bfloat16", "float16", "int8", "int4"))
def test_a_checkpoint_trained_in_each_type_samples_in_each_precision(trained_in, dtype, precision):
    loaded = load_model(trained_in[dtype], precision=precision)
    text_out = "".join(loaded.stream("", SamplingOptions(max_new_tokens=12, temperature=0.9, top_k=50, seed=3)))
    assert loaded.checkpoint_info["precision"] == precision
    assert text_out.strip()


@pytest.fixture(scope="module")
def trained_in(tmp_path_factory, prepared) -> dict[str, str]:
    """A tiny checkpoint trained in each type: {dtype: path}."""
    paths = {}
    for dtype in DTYPES:
        folder = tmp_path_factory.mktemp(f"trained_{dtype}")
        shutil.copytree(prepared[0], folder / "data")
        cfg = tiny_config(folder, dtype=dtype, max_steps=10, eval_interval=10)
        assert run_training(cfg)[-1].reason == "done"
        paths[dtype] = f"{cfg.out_dir}/ckpt.pt"
    return paths


# ---------------------------------------------------------------------------------------------
# The command line in each type


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_cli_trains_with_samples_and_names_the_type_and_the_cpu(tmp_path, prepared, dtype):
    copy_data(prepared, tmp_path)
    args = [arg if arg != "float32" else dtype for arg in TINY_RUN]
    result = run_script("train_gpt.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f", {dtype} (as requested)" in result.stdout
    assert "CPU features: avx2 " in result.stdout and " amx " in result.stdout
    assert result.stdout.count("--- sample at step") == 3  # steps 0, 10 and 20

    for precision in ("float32", "bfloat16", "float16", "int8", "int4"):
        sampled = run_script("sample.py", "--precision", precision, "--max_new_tokens", "12", "--seed", "1",
                             "--device", "cpu", cwd=tmp_path)
        if precision == "int4" and not HAS_INT4:
            assert_one_line_error(sampled, "precision int4 needs torch's int4 kernel", "use int8")
            continue
        assert sampled.returncode == 0, sampled.stderr[-2000:]
        assert sampled.stdout.strip(), precision


# ---------------------------------------------------------------------------------------------
# The GPU's paths that a CPU can run


def tiny_model_and_batch(dtype=torch.float32):
    cfg = Config(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=0.0)
    torch.manual_seed(0)
    model = GPT(cfg)
    x = torch.randint(cfg.vocab_size, (4, cfg.block_size))
    return model, x


def test_float16_scales_the_loss_and_skips_a_step_whose_gradients_overflow():
    model, x = tiny_model_and_batch()
    optimizer = model.optimizer(1e-3, 0.0, torch.device("cpu"))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, enabled=True)
    loss = train_step(model, optimizer, scaler, [(x, x)], 1.0, torch.device("cpu"), torch.float16).loss
    assert math.isfinite(loss.item()) and scaler.get_scale() == 2.0**16  # a clean step keeps the scale

    before = [p.detach().clone() for p in model.parameters()]
    handle = model.lm_head.weight.register_hook(lambda grad: grad * float("inf"))  # an overflowing gradient
    train_step(model, optimizer, scaler, [(x, x)], 1.0, torch.device("cpu"), torch.float16)
    handle.remove()
    assert scaler.get_scale() == 2.0**15  # halved, and the step skipped
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_float16_run_uses_the_grad_scaler(cfg, monkeypatch):
    scalers = []
    original = torch.amp.GradScaler

    def recording(*args, **kwargs):
        scaler = original(*args, **kwargs)
        scalers.append(scaler)
        return scaler
    monkeypatch.setattr(torch.amp, "GradScaler", recording)
    assert run_training(cfg.replace(dtype="float16", max_steps=10, eval_interval=10))[-1].reason == "done"
    assert [scaler.is_enabled() for scaler in scalers] == [True]


def test_the_cpu_optimizer_is_the_fused_adamw_and_matches_the_plain_one():
    results = []
    for fused in (True, False):
        model, x = tiny_model_and_batch()
        optimizer = model.optimizer(1e-2, 0.1, torch.device("cpu"))
        if not fused:
            for group in optimizer.param_groups:
                group["fused"] = False
        assert optimizer.param_groups[0]["fused"] is fused
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        for _ in range(3):
            train_step(model, optimizer, scaler, [(x, x)], 1.0, torch.device("cpu"), torch.float32)
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    # Same update; the fused kernel orders its float operations differently (seen: 1.6e-5 after 3 steps).
    assert torch.allclose(results[0], results[1], atol=1e-4)


def test_compile_on_trains_a_tiny_model_like_eager(cfg):
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.fail("torch.compile on a CPU needs a C++ compiler; install g++ (CI does)")
    cfg = cfg.replace(max_steps=10, eval_interval=10, log_interval=5)
    eager = run_training(cfg.replace(compile="off", run_name="eager"))
    compiled = run_training(cfg.replace(compile="on", run_name="compiled"))
    assert of(compiled, Started)[0].dtype == "float32, compiled"
    assert compiled[-1].reason == "done", compiled[-1]
    assert of(compiled, Evaluated)[-1].val_loss == pytest.approx(of(eager, Evaluated)[-1].val_loss, abs=2e-3)


def test_a_failure_names_what_to_try_compile_first_then_the_type():
    from pathlib import Path

    from gpt.run import Run
    from gpt.train import failure
    cpu = torch.device("cpu")
    args = (RuntimeError("Expected query, key, and value to have the same dtype"), "sample", 100,
            Run(Path("nowhere")), cpu)
    assert failure(*args, "bfloat16", compiled=True).message.endswith("Try compile off")
    assert failure(*args, "bfloat16", compiled=False).message == (
        "the sample failed at step 100 (bfloat16 on cpu); no checkpoint was saved yet. Try precision float32")
    assert isinstance(failure(*args, "bfloat16", compiled=False), Finished)
