"""Train a small GPT from text and sample from it.

    text -> tokenizer -> data (bins, batches) -> model -> train (a generator of events)
    checkpoint and sample are their own modules.

`gpt.device` is imported first: on a Mac it must set PYTORCH_ENABLE_MPS_FALLBACK before torch loads.
"""

from . import device  # noqa: F401  (must come before anything that imports torch)
from .config import Config, ConfigError

__all__ = ["Config", "ConfigError"]
