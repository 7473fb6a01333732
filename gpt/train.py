"""The training loop, written once, as a generator of events.

    for event in train(cfg, stop=threading.Event()):
        ...  # Progress, Started, StepDone, Evaluated, Sampled, CheckpointSaved, Finished

The CLI draws a tqdm bar from these events, the app draws plots, tests assert on them.
`stop.set()` from anywhere (a Stop button, Ctrl-C, SIGTERM) is honoured between two steps: the
loop saves a checkpoint and finishes with reason "stopped". Problems a user can fix (bad
config, bad data, a checkpoint that does not fit) raise one of USER_ERRORS before any
training starts, with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from .checkpoint import (BEST_NAME, ArchitectureMismatch, CheckpointError, architecture_differences,
                         archive_checkpoint, check_tokenizer, checkpoint_config, checkpoint_path, load_checkpoint,
                         model_state, save_checkpoint)
from .config import Config, ConfigError
from .data import DataError, DataInfo, Progress, get_batch, open_tokens, prepare_builtin, read_meta
from .distributed import World, join_world
from .device import (autocast, choose_dtype, cpu_features, describe, enable_fast_matmul, pick_device, pick_dtype,
                     should_compile, use_cpu_cores)
from .health import Advice, HealthMonitor
from .model import GPT, estimate_training_memory
from .sample import TextStream, generate
from .tokenizer import TokenizerError, end_of_text_id, fingerprint, load_tokenizer

USER_ERRORS = (ConfigError, DataError, TokenizerError, CheckpointError)
__all__ = ["Advice", "CheckpointSaved", "Evaluated", "Finished", "Sampled", "Started", "StepDone", "USER_ERRORS",
           "estimate_loss", "learning_rate", "train", "train_step"]
MEMORY_TIPS = ("smaller batch_size, block_size 128, n_layer 4, n_embd 256")
DIVERGED_TIP = "lower lr, for example to 1e-4"


# ---------------------------------------------------------------------------------------------
# Events


@dataclass
class Started:
    step: int
    max_steps: int
    resumed: bool
    device: str
    dtype: str
    dtype_reason: str  # why this number type (a locale key: "requested", "cpu_amx", "cpu_no_bf16", ...)
    cpu_features: str  # "avx2 yes, avx512 yes, avx512_bf16 yes, amx yes"
    parameters: int
    vocab_size: int
    train_tokens: int
    val_tokens: int
    tokens_per_step: int
    checkpoint: str
    archived_checkpoint: str | None
    cfg: Config
    history: list  # evaluations carried over from the checkpoint, for plots


@dataclass
class StepDone:
    step: int
    loss: float
    lr: float
    tokens_per_second: float
    elapsed: float  # seconds of training in this session


@dataclass
class Evaluated:
    step: int
    train_loss: float
    val_loss: float
    val_bpb: float | None  # bits per byte: comparable across tokenizers
    seconds: float


@dataclass
class Sampled:
    step: int
    text: str


@dataclass
class CheckpointSaved:
    step: int
    path: str
    best_path: str | None  # set when this evaluation is the best so far


@dataclass
class Finished:
    step: int
    reason: str  # "done", "stopped", "diverged", "out_of_memory" or "failed"
    message: str  # a plain sentence: what happened, what was kept, what to try
    checkpoint: str | None
    values: dict = field(default_factory=dict)  # the message's parts, for other languages
    detail: str = ""  # for "failed": the error's own first line, for the log and bug reports


# ---------------------------------------------------------------------------------------------
# Pieces of the loop


def learning_rate(cfg: Config, step: int) -> float:
    """Constant (the original recipe), or linear warmup then cosine decay to min_lr."""
    if cfg.lr_schedule == "constant":
        return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else cfg.lr
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


@torch.no_grad()
def estimate_loss(model: GPT, splits: dict, cfg: Config, device: torch.device, dtype: torch.dtype,
                  world: World = World()) -> dict[str, float]:
    """Mean loss over eval_iters batches of each split, in eval mode (no dropout).

    The batches are the same at every evaluation (a fixed seed), so the curve shows the model
    changing, not the sampling noise. In a distributed run each process takes every
    world-size-th batch and the sums are added up, so the result equals one process's.
    """
    model.eval()
    losses = {}
    for name, tokens in splits.items():
        generator = torch.Generator().manual_seed(cfg.seed)
        total = torch.zeros((), device=device)
        for index in range(cfg.eval_iters):
            x, y = get_batch(tokens, cfg.batch_size, cfg.block_size, generator, device)
            if index % world.size != world.rank:
                continue
            with autocast(device, dtype):
                _, loss = model(x, y, only_loss=True)
            total += loss.float()
        losses[name] = (world.sum(total) / cfg.eval_iters).item()
    model.train()
    return losses


def train_step(model, optimizer, scaler, batches: list, grad_clip: float, device: torch.device,
               dtype: torch.dtype) -> torch.Tensor:
    """One optimisation step over one or more micro-batches; returns the mean loss without a device sync."""
    total = torch.zeros((), device=device)
    for index, (x, y) in enumerate(batches):
        # DDP averages gradients across processes during backward; the last micro-batch is enough.
        last = index == len(batches) - 1
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
            with autocast(device, dtype):
                _, loss = model(x, y, only_loss=True)
            scaler.scale(loss / len(batches)).backward()
        total += loss.detach()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return total / len(batches)


def time_training_step(cfg: Config, steps: int = 3, device: torch.device | None = None,
                       dtype: torch.dtype | None = None) -> float:
    """Median seconds of one training step of this config on random tokens, after one warm-up step."""
    device = device or pick_device(cfg.device)
    dtype = dtype or pick_dtype(device, cfg.dtype)
    model = GPT(cfg).to(device)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.block_size), device=device)
    timings = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        train_step(model, optimizer, scaler, [(x, x)], cfg.grad_clip, device, dtype).item()
        timings.append(time.perf_counter() - started)
    return sorted(timings[1:])[len(timings[1:]) // 2]


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError; MPS ("MPS backend out of memory") and the CPU allocator
    ("can't allocate memory") raise a plain RuntimeError."""
    message = str(error)
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message))


def has_diverged(loss: float, vocab_size: int) -> bool:
    """NaN or inf, or far worse than guessing uniformly (ln V): no learning run gets there."""
    return not math.isfinite(loss) or loss > 2 * math.log(vocab_size) + 1


def bits_per_byte(loss: float, data: DataInfo | None) -> float | None:
    """Nats per token -> bits per byte of text, so runs with different tokenizers compare."""
    if data is None or not math.isfinite(loss):
        return None
    return loss * data.tokens_per_byte / math.log(2)


def ensure_data(cfg: Config) -> Iterator[Progress]:
    """Prepare the built-in corpus when none of the data files exist yet."""
    paths = [Path(cfg.train_bin), Path(cfg.val_bin), Path(cfg.tok_path)]
    missing = [path for path in paths if not path.exists()]
    if len(missing) == len(paths):
        yield from prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size,
                                   cfg.val_fraction, language=cfg.builtin_corpus, seed=cfg.seed)
    elif missing:
        raise DataError(f"the data is incomplete: {', '.join(map(str, missing))} missing; prepare it again "
                        f"(the app's Data tab, or python scripts/prepare_data.py --input your.txt) "
                        f"or delete all three files to use the built-in corpus")


def memory_problems(cfg: Config, device: torch.device) -> list[tuple[str, str]]:
    """[("batch_size", why)] when a training step of cfg clearly cannot fit in the device's free memory, else []."""
    if device.type == "cuda":
        available = torch.cuda.mem_get_info(device)[0]
    elif hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    else:
        return []
    needed = estimate_training_memory(cfg)
    if needed > 0.9 * available:
        return [("batch_size", f"this config needs about {needed / 2**30:.1f} GiB for a training step "
                               f"but only {available / 2**30:.1f} GiB is free; try {MEMORY_TIPS}")]
    return []


def check_memory(cfg: Config, device: torch.device) -> None:
    """Refuse a config whose training step clearly cannot fit, before allocating anything."""
    if problems := memory_problems(cfg, device):
        raise ConfigError(problems)


def _save(path: Path, model, optimizer, step, cfg, tokenizer_id, history, best_val_loss) -> None:
    last = history[-1] if history else {}
    save_checkpoint(path, model=model_state(model), optim=optimizer.state_dict(), step=step, cfg=cfg.to_dict(),
                    tokenizer=tokenizer_id, history=history, val_loss=last.get("val_loss"),
                    val_bpb=last.get("val_bpb"), best_val_loss=best_val_loss)


def _copy_atomically(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


FAILED_PHASES = {"step": "the training step", "evaluation": "the loss evaluation", "sample": "the sample",
                 "save": "saving the checkpoint"}


def failure(error: BaseException, phase: str, step: int, checkpoint_file: Path, device: torch.device,
            dtype_name: str, compiled: bool) -> Finished:
    """The run's end after an error: what failed, what was kept, what to try, as a plain sentence.

    Out of memory gets the tutorial's tips for a smaller config. Anything else is reported with
    the setting most likely to blame (compiling, then the number type); its traceback goes to
    stderr and its first line into `detail`, for a bug report.
    """
    kept_step = _saved_step(checkpoint_file)
    kept = (f"the last checkpoint ({checkpoint_file}, step {kept_step:,}) is kept" if kept_step is not None
            else "no checkpoint was saved yet")
    values = dict(phase=phase, step=step, device=device.type, dtype=dtype_name, checkpoint=str(checkpoint_file),
                  kept_step=kept_step)
    if is_out_of_memory(error):
        return Finished(step, "out_of_memory", f"the {device.type} device ran out of memory at step {step:,}; "
                                               f"{kept}. Try {MEMORY_TIPS}", None, values)
    traceback.print_exception(error)
    if compiled:
        values["suggestion"] = "compile off"
    elif dtype_name != "float32":
        values["suggestion"] = "precision float32"
    else:
        values["suggestion"] = "a smaller config"
    detail = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"
    return Finished(step, "failed", f"{FAILED_PHASES[phase]} failed at step {step:,} ({dtype_name} on {device.type}); "
                                    f"{kept}. Try {values['suggestion']}", None, values, detail)


def _saved_step(checkpoint_file: Path) -> int | None:
    """The step of the checkpoint on disk, without loading its tensors (None when there is none)."""
    if not checkpoint_file.exists():
        return None
    try:
        return int(load_checkpoint(checkpoint_file)["step"])
    except (CheckpointError, KeyError, ValueError):
        return None



# ---------------------------------------------------------------------------------------------
# The loop


def train(
    cfg: Config,
    stop: threading.Event | None = None,
    fresh: bool = False,
    keep_checkpoint_architecture: bool = False,
) -> Iterator:
    """Prepare data if needed, resume or start, and train to cfg.max_steps, yielding events.

    Under torchrun every process runs this; rank 0 alone prepares data, samples and saves.
    """
    cfg.validate()
    stop = stop or threading.Event()
    world = join_world()
    if cfg.batch_size % world.size:
        raise ConfigError([("batch_size", f"batch_size ({cfg.batch_size}) must be divisible by the number of "
                                          f"processes ({world.size}): each trains on an equal share of the batch")])
    if world.is_main:
        yield from ensure_data(cfg)
    world.barrier()

    tokenizer = load_tokenizer(cfg.tok_path)
    train_tokens, val_tokens = open_tokens(cfg.train_bin), open_tokens(cfg.val_bin)
    data_info = read_meta(cfg.train_bin)
    cfg = cfg.replace(vocab_size=tokenizer.get_vocab_size())
    for path, tokens in ((cfg.train_bin, train_tokens), (cfg.val_bin, val_tokens)):
        if int(tokens.max(initial=0)) >= cfg.vocab_size:  # bins and tokenizer from different runs
            raise DataError(f"{path} holds token ids beyond the tokenizer's {cfg.vocab_size:,} tokens: "
                            f"the bins and {cfg.tok_path} do not belong together; prepare the data again")
    tokenizer_id = {"fingerprint": fingerprint(tokenizer), "vocab_size": cfg.vocab_size}

    # Resume, or start fresh keeping the old run under another name.
    checkpoint_file = checkpoint_path(cfg.run_dir)  # out_dir/ckpt.pt, or out_dir/<run_name>/ckpt.pt
    checkpoint, archived = None, None
    resuming = checkpoint_file.exists() and not fresh
    if resuming:
        checkpoint = load_checkpoint(checkpoint_file)
        check_tokenizer(checkpoint, tokenizer_id["fingerprint"], cfg.tok_path)
        saved = checkpoint_config(checkpoint)
        differences = architecture_differences(saved, cfg)
        if differences and not keep_checkpoint_architecture:
            raise ArchitectureMismatch(checkpoint_file, differences)
        cfg = cfg.replace(**{name: getattr(saved, name) for name in differences})
    cfg.validate(train_tokens=len(train_tokens), val_tokens=len(val_tokens))

    device = pick_device(cfg.device)
    if device.type == "cuda" and world.enabled:
        device = torch.device("cuda", world.local_rank)
    if device.type == "cpu":
        use_cpu_cores(share=world.local_size)
    enable_fast_matmul(device)
    dtype_choice = choose_dtype(device, cfg.dtype)
    dtype = dtype_choice.dtype
    check_memory(cfg, device)

    world.barrier()  # every process has looked before rank 0 moves the old run away
    if not resuming and world.is_main:
        # A new run never overwrites an old one: its checkpoints move aside under dated names.
        archived = archive_checkpoint(checkpoint_file)
        archive_checkpoint(checkpoint_file.with_name(BEST_NAME))

    torch.manual_seed(cfg.seed)
    model = GPT(cfg).to(device)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, device)
    step, history, best_val_loss = 0, [], math.inf
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optim"])
        step = int(checkpoint["step"])
        history = list(checkpoint.get("history") or [])
        best_val_loss = checkpoint.get("best_val_loss") or math.inf
        del checkpoint
    # A resumed run draws other batches than the first part did, but the same ones every time,
    # and every process the same ones (each then keeps its own share).
    torch.manual_seed(cfg.seed + step)
    batch_generator = torch.Generator().manual_seed(cfg.seed + step)
    compiled = should_compile(cfg.compile, device, cfg.max_steps - step)
    runnable = torch.compile(model) if compiled else model
    if world.enabled:
        runnable = torch.nn.parallel.DistributedDataParallel(
            runnable, device_ids=[world.local_rank] if device.type == "cuda" else None)
    # float16 gradients underflow without loss scaling; bfloat16 and float32 need none.
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps

    def next_batches() -> list:
        return [get_batch(train_tokens, cfg.batch_size, cfg.block_size, batch_generator, device,
                          part=(world.rank, world.size)) for _ in range(cfg.grad_accum_steps)]

    if world.is_main:
        yield Started(step, cfg.max_steps, resuming, describe(device) + (f" x {world.size} processes" if world.enabled else ""),
                      dtype_choice.name + (", compiled" if compiled else ""), dtype_choice.reason, str(cpu_features()),
                      model.num_parameters(), cfg.vocab_size, len(train_tokens),
                      len(val_tokens), tokens_per_step, str(checkpoint_file), str(archived) if archived else None,
                      cfg, list(history))
    if step >= cfg.max_steps:
        yield Finished(step, "done", f"the checkpoint is already at step {step:,}, not below max_steps "
                                     f"({cfg.max_steps:,}); raise max_steps to train further", str(checkpoint_file))
        return

    def save() -> None:
        if world.is_main:
            _save(checkpoint_file, model, optimizer, step, cfg, tokenizer_id, history, best_val_loss)

    health = HealthMonitor(cfg.lr)
    for past in history:  # a resumed run remembers its curve
        health.check(past["step"], past["train_loss"], past["val_loss"], "")

    model.train()
    started = last_log_time = time.perf_counter()
    last_log_step = step
    batches = next_batches()
    # Any error in a step, an evaluation, a sample or a save ends the run with a sentence that says
    # what failed and what to try; the last checkpoint on disk stays as it was.
    phase = "step"
    try:
        while step < cfg.max_steps:
            phase = "step"
            if world.any(stop.is_set()):
                save()
                yield CheckpointSaved(step, str(checkpoint_file), None)
                yield Finished(step, "stopped", f"stopped at step {step:,}", str(checkpoint_file))
                return
            lr = learning_rate(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = train_step(runnable, optimizer, scaler, batches, cfg.grad_clip, device, dtype)
            # Draw the next batches while the device still works on this step (asynchronous on GPU).
            batches = next_batches()
            step += 1

            if step % cfg.log_interval == 0 or step == cfg.max_steps:
                loss_value = world.mean(loss).item()  # the only host-device sync of a training step
                now = time.perf_counter()
                if has_diverged(loss_value, cfg.vocab_size):
                    kept = f"; the last good checkpoint ({checkpoint_file}) is kept" if checkpoint_file.exists() else ""
                    yield Finished(step, "diverged", f"the loss became {loss_value:.4g} at step {step:,} (random guessing "
                                                     f"scores {math.log(cfg.vocab_size):.2f}): the learning rate {cfg.lr:g} "
                                                     f"is too high; {DIVERGED_TIP}{kept}", None)
                    return
                yield StepDone(step, loss_value, lr, (step - last_log_step) * tokens_per_step / (now - last_log_time),
                               now - started)
                last_log_step, last_log_time = step, now

            if step % cfg.eval_interval == 0 or step == cfg.max_steps:
                phase = "evaluation"
                eval_started = time.perf_counter()
                losses = estimate_loss(model, {"train": train_tokens, "val": val_tokens}, cfg, device, dtype, world)
                val_bpb = bits_per_byte(losses["val"], data_info)
                yield Evaluated(step, losses["train"], losses["val"], val_bpb, time.perf_counter() - eval_started)
                if has_diverged(losses["val"], cfg.vocab_size):
                    yield Finished(step, "diverged", f"the validation loss became {losses['val']:.4g} at step {step:,}; "
                                                     f"{DIVERGED_TIP}; the last good checkpoint is kept", None)
                    return
                history.append({"step": step, "train_loss": losses["train"], "val_loss": losses["val"], "val_bpb": val_bpb})
                if world.is_main:
                    yield from health.check(step, losses["train"], losses["val"], str(checkpoint_file.with_name(BEST_NAME)))
                phase = "sample"
                if cfg.sample_every_eval and world.is_main:
                    yield Sampled(step, sample_text(model, tokenizer, cfg, device, dtype, seed=cfg.seed + step))
                is_best = losses["val"] < best_val_loss
                best_val_loss = min(best_val_loss, losses["val"])
                phase = "save"
                save()
                best_file = checkpoint_file.with_name(BEST_NAME)
                if is_best and world.is_main:
                    _copy_atomically(checkpoint_file, best_file)
                yield CheckpointSaved(step, str(checkpoint_file), str(best_file) if is_best else None)
                # Evaluation time is not training time: keep tokens/s honest.
                last_log_time += time.perf_counter() - eval_started
    except Exception as error:  # noqa: BLE001 (every error becomes a sentence; the traceback goes to stderr)
        yield failure(error, phase, step, checkpoint_file, device, dtype_choice.name, compiled)
        return

    yield Finished(step, "done", f"reached max_steps ({cfg.max_steps:,})", str(checkpoint_file))


def sample_text(model: GPT, tokenizer, cfg: Config, device: torch.device, dtype: torch.dtype, seed: int) -> str:
    """A sample from the start of a new document, as shown at each evaluation."""
    generator = torch.Generator(device=device).manual_seed(seed)
    stream = TextStream(tokenizer)
    pieces = [stream.push(token) for token in generate(model, [end_of_text_id(tokenizer)], cfg.sample_max_new_tokens,
                                                        cfg.temperature, cfg.top_k, generator=generator, dtype=dtype)]
    return ("".join(pieces) + stream.flush()).strip()
