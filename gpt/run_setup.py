"""Everything before a run's first step: data, tokenizer, resume or fresh start, device, model.

`set_up(cfg, world, fresh, keep_checkpoint_architecture)` is a generator: it yields the data
preparation's Progress when the built-in corpus must be made first, and returns a `Setup` with
the model, optimizer and data ready to train. Problems a user can fix (missing or mismatched
data, a checkpoint of another shape or tokenizer, a config too big for memory) raise one of
`USER_ERRORS` here, before anything is trained or moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator

import numpy as np
import torch
from tokenizers import Tokenizer

from .checkpoint import (ArchitectureMismatch, CheckpointError, architecture_differences, archive_checkpoint,
                         check_tokenizer, checkpoint_config, load_checkpoint, load_weights)
from .config import Config, ConfigError
from .data import DataError, DataInfo, Progress, open_tokens, prepare_builtin, read_meta
from .device import DtypeChoice, choose_dtype, enable_fast_matmul, pick_device, should_compile, use_cpu_cores
from .distributed import World
from .host_memory import keep_freed_memory
from .locales import Text
from .model import GPT
from .run import Run, memory_problems
from .tokenizer import TokenizerError, fingerprint, load_tokenizer

USER_ERRORS = (ConfigError, DataError, TokenizerError, CheckpointError)


@dataclass
class Setup:
    """A run ready for its next step."""

    cfg: Config  # as it trains: the tokenizer's vocabulary, and a resumed checkpoint's shape if kept
    run: Run
    tokenizer: Tokenizer
    tokenizer_id: dict  # fingerprint and vocabulary size, saved with every checkpoint
    train_tokens: np.ndarray
    val_tokens: np.ndarray
    data_info: DataInfo | None
    device: torch.device
    dtype: DtypeChoice
    compiled: bool
    model: GPT
    runnable: torch.nn.Module  # the model as stepped: compiled and/or wrapped by DDP
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    step: int = 0
    history: list = field(default_factory=list)  # one dict per evaluation, carried over on resume
    best_val_loss: float = math.inf
    resumed: bool = False
    archived: Path | None = None  # where a fresh start moved the previous checkpoint


def set_up(cfg: Config, world: World, fresh: bool = False,
           keep_checkpoint_architecture: bool = False) -> Generator[Progress, None, Setup]:
    if world.is_main:
        yield from ensure_data(cfg)
    world.barrier()
    tokenizer = load_tokenizer(cfg.tok_path)
    cfg = cfg.replace(vocab_size=tokenizer.get_vocab_size())
    train_tokens, val_tokens = open_tokens(cfg.train_bin), open_tokens(cfg.val_bin)
    for path, tokens in ((cfg.train_bin, train_tokens), (cfg.val_bin, val_tokens)):
        if int(tokens.max(initial=0)) >= cfg.vocab_size:  # bins and tokenizer from different runs
            raise DataError(Text("setup.bins_beyond_tokenizer", path=path, vocab_size=cfg.vocab_size,
                                 tok_path=cfg.tok_path))
    tokenizer_id = {"fingerprint": fingerprint(tokenizer), "vocab_size": cfg.vocab_size}

    # Resume, or start fresh keeping the old run under another name.
    run = Run.of(cfg)
    resumed = run.has_checkpoint() and not fresh
    checkpoint = None
    if resumed:
        checkpoint = load_checkpoint(run.checkpoint)
        check_tokenizer(checkpoint, tokenizer_id["fingerprint"], cfg.tok_path)
        saved = checkpoint_config(checkpoint)
        differences = architecture_differences(saved, cfg)
        if differences and not keep_checkpoint_architecture:
            raise ArchitectureMismatch(run.checkpoint, differences)
        cfg = cfg.replace(**{name: getattr(saved, name) for name in differences})
    cfg.validate(train_tokens=len(train_tokens), val_tokens=len(val_tokens))

    device = pick_device(cfg.device)
    if device.type == "cuda" and world.enabled:
        device = torch.device("cuda", world.local_rank)
    if device.type == "cpu":
        use_cpu_cores(share=world.local_size)
        keep_freed_memory()
    enable_fast_matmul(device)
    dtype = choose_dtype(device, cfg.dtype)
    if problems := memory_problems(cfg, device):  # refused before anything is allocated
        raise ConfigError(problems)

    world.barrier()  # every process has looked before rank 0 moves the old run away
    archived = None
    if not resumed and world.is_main:
        # A new run never overwrites an old one: its checkpoints move aside under dated names.
        archived = archive_checkpoint(run.checkpoint)
        archive_checkpoint(run.best)

    torch.manual_seed(cfg.seed)
    model = GPT(cfg).to(device)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, device)
    setup = Setup(cfg, run, tokenizer, tokenizer_id, train_tokens, val_tokens, read_meta(cfg.train_bin), device,
                  dtype, False, model, model, optimizer,
                  # float16 gradients underflow without loss scaling; bfloat16 and float32 need none.
                  torch.amp.GradScaler(device.type, enabled=dtype.dtype == torch.float16),
                  resumed=resumed, archived=archived)
    if checkpoint is not None:
        load_weights(model, checkpoint, run.checkpoint)
        optimizer.load_state_dict(checkpoint["optim"])
        setup.step = int(checkpoint["step"])
        setup.history = list(checkpoint.get("history") or [])
        setup.best_val_loss = checkpoint.get("best_val_loss") or math.inf
    setup.compiled = should_compile(cfg.compile, device, cfg.max_steps - setup.step)
    runnable = torch.compile(model) if setup.compiled else model
    if world.enabled:
        runnable = torch.nn.parallel.DistributedDataParallel(
            runnable, device_ids=[world.local_rank] if device.type == "cuda" else None)
    setup.runnable = runnable
    return setup


def ensure_data(cfg: Config) -> Generator[Progress, None, None]:
    """Prepare the built-in corpus when none of the data files exist yet."""
    paths = [Path(cfg.train_bin), Path(cfg.val_bin), Path(cfg.tok_path)]
    missing = [path for path in paths if not path.exists()]
    if len(missing) == len(paths):
        yield from prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size,
                                   cfg.val_fraction, language=cfg.builtin_corpus, seed=cfg.seed)
    elif missing:
        raise DataError(Text("setup.data_incomplete", missing=", ".join(map(str, missing))))
