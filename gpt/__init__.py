"""Train a small GPT from text and sample from it.

    text -> tokenizer -> data (bins, batches) -> model -> train (a generator of events)
    checkpoint, run, inference and sampling are their own modules; locales holds every sentence.

This module is the surface the app (`ui/`) and notebooks use; the CLI programs live in `gpt/cli/`.
`gpt.device` is imported first: on a Mac it must set PYTORCH_ENABLE_MPS_FALLBACK before torch loads.
"""

__version__ = "0.3.0"

from . import device  # noqa: F401  (must come before anything that imports torch)
from .checkpoint import ArchitectureMismatch, CheckpointError, TokenizerMismatch
from .config import ARCHITECTURE_FIELDS, PRESETS, Config, ConfigError
from .controls import Setting, settings
from .corpus import corpus_names, corpus_text_path
from .data import DataError, DataInfo, Progress, max_upload_bytes, prepare_builtin, prepare_files, read_meta
from .device import INFERENCE_PRECISIONS, choose_dtype, pick_device
from .inference import LoadedModel, PrecisionUnavailable, load_model
from .model import count_parameters, estimate_training_memory, training_flops_per_token
from .run import Run, list_runs, memory_problems
from .run_name import run_name_problem
from .run_setup import USER_ERRORS
from .sampling import SamplingOptions
from .text import Piece, token_pieces
from .tokenizer import TokenizerError, load_tokenizer
# `train` (the loop) is imported from gpt.train by name: bound here it would hide the module gpt.train.
from .train import Advice, CheckpointSaved, Evaluated, Finished, Sampled, Started, StepDone, time_training_step

__all__ = [
    # settings
    "ARCHITECTURE_FIELDS", "Config", "ConfigError", "PRESETS", "SamplingOptions", "Setting", "settings",
    # data
    "DataError", "DataInfo", "Progress", "corpus_names", "corpus_text_path", "max_upload_bytes", "prepare_builtin",
    "prepare_files", "read_meta", "load_tokenizer", "TokenizerError", "Piece", "token_pieces",
    # the model and where it runs
    "INFERENCE_PRECISIONS", "choose_dtype", "count_parameters", "estimate_training_memory", "pick_device",
    "training_flops_per_token",
    # runs and training
    "Run", "list_runs", "memory_problems", "run_name_problem", "USER_ERRORS", "ArchitectureMismatch",
    "CheckpointError", "TokenizerMismatch", "time_training_step",
    "Advice", "CheckpointSaved", "Evaluated", "Finished", "Sampled", "Started", "StepDone",
    # sampling
    "LoadedModel", "PrecisionUnavailable", "load_model",
]
