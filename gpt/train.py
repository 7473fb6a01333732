"""The training loop, written once, as a generator of events.

    for event in train(cfg, stop=threading.Event()):
        ...  # Progress, Started, StepDone, Evaluated, Sampled, Advice, CheckpointSaved, Finished

The CLI draws a tqdm bar from these events, the app draws plots, tests assert on them.
`stop.set()` from anywhere (a Stop button, Ctrl-C, SIGTERM) is honoured between two steps: the
loop saves a checkpoint and finishes with reason "stopped". Problems a user can fix (bad
config, bad data, a checkpoint that does not fit) raise one of USER_ERRORS before any
training starts (see gpt.run_setup), with a message that says what to do. Anything that goes
wrong once training runs ends it with a Finished event whose message says what failed, what was
kept and what to try.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

import torch

from .checkpoint import model_state, save_checkpoint
from .config import Config, ConfigError
from .data import DataInfo, get_batch
from .device import autocast, cpu_features, describe, pick_device, pick_dtype
from .distributed import World, join_world
from .files import temporary_path
from .generate import generate
from .health import Advice, HealthMonitor
from .host_memory import keep_freed_memory, release_freed_memory
from .locales import Text
from .loss import free_workspace
from .model import GPT
from .run import MEMORY_TIPS, Run
from .run_setup import USER_ERRORS, Setup, set_up
from .reproducibility import reproducibility_card
from .schedules import learning_rate
from .tensorboard_log import TensorBoardLog, log_folder
from .text import TextStream
from .tokenizer import end_of_text_id

__all__ = ["Advice", "CheckpointSaved", "Evaluated", "Finished", "Sampled", "Started", "StepDone", "USER_ERRORS",
           "estimate_loss", "train", "train_step"]
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
    grad_norm: float | None = None  # of all gradients before clipping (None where the step's was not finite)


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
    message: Text  # a plain sentence in every language: what happened, what was kept, what to try
    checkpoint: str | None
    detail: str = ""  # for "failed": the error's own first line, for the log and bug reports


# ---------------------------------------------------------------------------------------------
# Pieces of the loop


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


class StepOutcome(NamedTuple):
    loss: torch.Tensor  # the mean over the micro-batches
    grad_norm: torch.Tensor  # of all gradients, before clipping


def train_step(model, optimizer, scaler, batches: list, grad_clip: float, device: torch.device,
               dtype: torch.dtype) -> StepOutcome:
    """One optimisation step over one or more micro-batches; returns its loss and gradient norm without a device sync."""
    total = torch.zeros((), device=device)
    for index, (x, y) in enumerate(batches):
        # DDP averages gradients across processes during backward; the last micro-batch is enough.
        last = index == len(batches) - 1
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
            with autocast(device, dtype):
                _, loss = model(x, y, only_loss=True)
            scaler.scale(loss / len(batches)).backward()
        total += loss.detach()
    scaler.unscale_(optimizer)
    # Without clipping the norm is still measured (for the logs): scaling by 1 costs little.
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip > 0 else math.inf)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return StepOutcome(total / len(batches), grad_norm)


def time_training_step(cfg: Config, steps: int = 3, device: torch.device | None = None,
                       dtype: torch.dtype | None = None) -> float:
    """Median seconds of one training step of this config on random tokens, after one warm-up step."""
    device = device or pick_device(cfg.device)
    dtype = dtype or pick_dtype(device, cfg.dtype)
    if device.type == "cpu":
        keep_freed_memory()  # as a run does, so the estimate is the run's speed
    model = GPT(cfg).to(device)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.block_size), device=device)
    timings = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        train_step(model, optimizer, scaler, [(x, x)], cfg.grad_clip, device, dtype).loss.item()
        timings.append(time.perf_counter() - started)
    del model, optimizer, x
    _let_memory_go()
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


def failure(error: BaseException, phase: str, step: int, run: Run, device: torch.device, dtype_name: str,
            compiled: bool) -> Finished:
    """The run's end after an error: what failed, what was kept, what to try, as a plain sentence.

    Out of memory gets the tutorial's tips for a smaller config. Anything else is reported with
    the setting most likely to blame (compiling, then the number type); its traceback goes to
    stderr and its first line into `detail`, for a bug report.
    """
    kept_step = run.saved_step()
    kept = (Text("train.kept", checkpoint=str(run.checkpoint), step=kept_step) if kept_step is not None
            else Text("train.nothing_kept"))
    if is_out_of_memory(error):
        return Finished(step, "out_of_memory", Text("train.out_of_memory", device=device.type, step=step, kept=kept,
                                                    tips=MEMORY_TIPS), None)
    traceback.print_exception(error)
    suggestion = "compile off" if compiled else "precision float32" if dtype_name != "float32" else "a smaller config"
    detail = _first_line(error)
    return Finished(step, "failed", Text("train.failed", phase=Text(f"train.phase.{phase}"), step=step,
                                         dtype=dtype_name, device=device.type, kept=kept, suggestion=suggestion),
                    None, detail)


def _save(setup: Setup, card: dict) -> None:
    last = setup.history[-1] if setup.history else {}
    save_checkpoint(setup.run.checkpoint, model=model_state(setup.model), optim=setup.optimizer.state_dict(),
                    step=setup.step, cfg=setup.cfg.to_dict(), tokenizer=setup.tokenizer_id, history=setup.history,
                    val_loss=last.get("val_loss"), val_bpb=last.get("val_bpb"), best_val_loss=setup.best_val_loss,
                    reproducibility=card)


def _copy_atomically(source: Path, target: Path) -> None:
    temporary = temporary_path(target)
    shutil.copyfile(source, temporary)
    temporary.replace(target)


# ---------------------------------------------------------------------------------------------
# The loop


def train(
    cfg: Config,
    stop: threading.Event | None = None,
    fresh: bool = False,
    keep_checkpoint_architecture: bool = False,
) -> Iterator:
    """Prepare data if needed, resume or start, and train to cfg.max_steps, yielding events.

    Under torchrun every process runs this; rank 0 alone prepares data, samples, saves and logs
    (TensorBoard, when cfg.tensorboard is on).
    """
    log = None
    events = _train(cfg, stop, fresh, keep_checkpoint_architecture)
    try:
        for event in events:
            advice = None
            if isinstance(event, Started) and event.cfg.tensorboard:
                try:
                    log = TensorBoardLog(event)
                except Exception as error:  # noqa: BLE001 (a log that cannot be written must not stop training)
                    advice = Advice(event.step, "log_failed", Text("train.log_failed", folder=str(
                        log_folder(Path(event.checkpoint).parent)), reason=_first_line(error)))
            if log is not None:
                log.record(event)
            yield event
            if advice is not None:  # after Started, which every consumer expects first
                yield advice
    finally:
        events.close()
        if log is not None:
            log.close()
        _let_memory_go()  # the run's model, optimizer and buffers are gone now


def _let_memory_go() -> None:
    """The loss's buffers and the heap's free memory back to the system: the app lives on after a run."""
    free_workspace()
    release_freed_memory()


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"


def _train(cfg: Config, stop: threading.Event | None, fresh: bool, keep_checkpoint_architecture: bool) -> Iterator:
    cfg.validate()
    stop = stop or threading.Event()
    world = join_world()
    if cfg.batch_size % world.size:
        raise ConfigError([("batch_size", Text("train.batch_per_process", batch_size=cfg.batch_size,
                                               processes=world.size))])
    setup = yield from set_up(cfg, world, fresh, keep_checkpoint_architecture)
    cfg, run, device, dtype = setup.cfg, setup.run, setup.device, setup.dtype.dtype
    checkpoint = str(run.checkpoint)
    card = (reproducibility_card(cfg, device, setup.dtype.name, setup.compiled, setup.tokenizer_id["fingerprint"],
                                 setup.step if setup.resumed else None) if world.is_main else {})
    # A resumed run draws other batches than the first part did, but the same ones every time,
    # and every process the same ones (each then keeps its own share).
    torch.manual_seed(cfg.seed + setup.step)
    batch_generator = torch.Generator().manual_seed(cfg.seed + setup.step)

    def next_batches() -> list:
        return [get_batch(setup.train_tokens, cfg.batch_size, cfg.block_size, batch_generator, device,
                          part=(world.rank, world.size)) for _ in range(cfg.grad_accum_steps)]

    if world.is_main:
        yield Started(setup.step, cfg.max_steps, setup.resumed,
                      describe(device) + (f" x {world.size} processes" if world.enabled else ""),
                      setup.dtype.name + (", compiled" if setup.compiled else ""), setup.dtype.reason,
                      str(cpu_features()), setup.model.num_parameters(), cfg.vocab_size, len(setup.train_tokens),
                      len(setup.val_tokens), cfg.tokens_per_step, checkpoint,
                      str(setup.archived) if setup.archived else None, cfg, list(setup.history))
    if setup.step >= cfg.max_steps:
        yield Finished(setup.step, "done", Text("train.already_done", step=setup.step, max_steps=cfg.max_steps),
                       checkpoint)
        return

    def save() -> None:
        if world.is_main:
            _save(setup, card)

    health = HealthMonitor(cfg.lr)
    for past in setup.history:  # a resumed run remembers its curve
        health.check(past["step"], past["train_loss"], past["val_loss"], "")

    session_started = time.perf_counter()
    earlier_seconds = setup.history[-1].get("elapsed", 0.0) if setup.history else 0.0
    phase = "step"

    def evaluate(step: int) -> Iterator:
        """Losses, the run's sample at this step, its history entry and (after step 0) a checkpoint.

        Returns True when the run diverged (its Finished event is yielded here).
        """
        nonlocal phase
        phase = "evaluation"
        eval_started = time.perf_counter()
        losses = estimate_loss(setup.model, {"train": setup.train_tokens, "val": setup.val_tokens}, cfg,
                               device, dtype, world)
        val_bpb = bits_per_byte(losses["val"], setup.data_info)
        yield Evaluated(step, losses["train"], losses["val"], val_bpb, time.perf_counter() - eval_started)
        if has_diverged(losses["val"], cfg.vocab_size):
            yield Finished(step, "diverged", Text("train.val_diverged", loss=losses["val"], step=step,
                                                  tip=DIVERGED_TIP), None)
            return True
        if world.is_main and step > 0:
            yield from health.check(step, losses["train"], losses["val"], str(run.best))
        phase = "sample"
        sample = None
        if cfg.sample_every_eval and world.is_main:
            # The same prompt and seed every time: the history shows what changed in the model.
            sample = sample_text(setup.model, setup.tokenizer, cfg, device, dtype, seed=cfg.seed)
            yield Sampled(step, sample)
        setup.history.append({"step": step, "train_loss": losses["train"], "val_loss": losses["val"],
                              "val_bpb": val_bpb, "sample": sample, "tokens": step * cfg.tokens_per_step,
                              "elapsed": earlier_seconds + time.perf_counter() - session_started})
        if step == 0:
            return False  # nothing learnt yet: nothing to save
        is_best = losses["val"] < setup.best_val_loss
        setup.best_val_loss = min(setup.best_val_loss, losses["val"])
        phase = "save"
        save()
        if is_best and world.is_main:
            _copy_atomically(run.checkpoint, run.best)
        yield CheckpointSaved(step, checkpoint, str(run.best) if is_best else None)
        return False

    # Any error in a step, an evaluation, a sample or a save ends the run with a sentence that says
    # what failed and what to try; the last checkpoint on disk stays as it was.
    try:
        if setup.step == 0 and not setup.history:
            # Where the run starts from (about ln(vocab_size)), and the sample of an untrained model.
            if (yield from evaluate(0)):
                return
        setup.model.train()
        started = last_log_time = time.perf_counter()
        last_log_step = setup.step
        batches = next_batches()
        while setup.step < cfg.max_steps:
            phase = "step"
            if world.any(stop.is_set()):
                save()
                yield CheckpointSaved(setup.step, checkpoint, None)
                yield Finished(setup.step, "stopped", Text("train.stopped", step=setup.step), checkpoint)
                return
            lr = learning_rate(cfg, setup.step)
            for group in setup.optimizer.param_groups:
                group["lr"] = lr
            outcome = train_step(setup.runnable, setup.optimizer, setup.scaler, batches, cfg.grad_clip, device, dtype)
            # Draw the next batches while the device still works on this step (asynchronous on GPU).
            batches = next_batches()
            setup.step += 1
            step = setup.step

            if step % cfg.log_interval == 0 or step == cfg.max_steps:
                # The only host-device sync of a training step.
                loss_value, grad_norm = torch.stack([world.mean(outcome.loss), outcome.grad_norm.float()]).tolist()
                now = time.perf_counter()
                if has_diverged(loss_value, cfg.vocab_size):
                    kept = Text("train.last_good_kept", checkpoint=checkpoint) if run.has_checkpoint() else ""
                    yield Finished(step, "diverged", Text("train.diverged", loss=loss_value, step=step,
                                                          random=math.log(cfg.vocab_size), lr=cfg.lr,
                                                          tip=DIVERGED_TIP, kept=kept), None)
                    return
                yield StepDone(step, loss_value, lr, (step - last_log_step) * cfg.tokens_per_step / (now - last_log_time),
                               now - started, grad_norm if math.isfinite(grad_norm) else None)
                last_log_step, last_log_time = step, now

            if step % cfg.eval_interval == 0 or step == cfg.max_steps:
                eval_started = time.perf_counter()
                if (yield from evaluate(step)):
                    return
                # Evaluation time is not training time: keep tokens/s honest.
                last_log_time += time.perf_counter() - eval_started
    except Exception as error:  # noqa: BLE001 (every error becomes a sentence; the traceback goes to stderr)
        yield failure(error, phase, setup.step, run, device, setup.dtype.name, setup.compiled)
        return

    yield Finished(setup.step, "done", Text("train.done", max_steps=cfg.max_steps), checkpoint)


def sample_text(model: GPT, tokenizer, cfg: Config, device: torch.device, dtype: torch.dtype, seed: int) -> str:
    """The sample kept at each evaluation: cfg.sample_prompt continued (empty: the start of a document)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    stream = TextStream(tokenizer)
    prompt_ids = [end_of_text_id(tokenizer)] + (tokenizer.encode(cfg.sample_prompt).ids if cfg.sample_prompt else [])
    pieces = [cfg.sample_prompt] + [stream.push(token) for token in generate(model, prompt_ids, cfg.sampling(),
                                                                             generator=generator, dtype=dtype)]
    return ("".join(pieces) + stream.flush()).strip()
