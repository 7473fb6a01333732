"""Byte-level BPE tokenizer, trained on our own text with Hugging Face `tokenizers`.

Byte-level means every string (Korean, emoji, anything UTF-8) becomes tokens without an
unknown token and decodes back exactly: the 256 byte values are always in the vocabulary.
One Hangul syllable is 3 bytes, so a single token may end in the middle of a character;
`gpt.text.TextStream` holds such pieces back until the character is complete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from .files import write_atomically
from .locales import Text

END_OF_TEXT = "<|endoftext|>"


class TokenizerError(ValueError):
    """A tokenizer file that is missing, unreadable or not a tokenizer."""


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Learn merges from an iterable of strings (streamed, so large corpora fit in memory)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return _literal_special_text(tokenizer)


def _literal_special_text(tokenizer: Tokenizer) -> Tokenizer:
    """Text that happens to read "<|endoftext|>" stays text; only our code inserts the real token."""
    tokenizer.encode_special_tokens = True  # not saved in tokenizer.json: set on every load
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, path: str | os.PathLike) -> None:
    write_atomically(path, tokenizer.to_str())


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(Text("tokenizer.missing", path=str(path)))
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception for bad JSON
        raise TokenizerError(Text("tokenizer.corrupt", path=str(path), reason=str(error))) from None
    if tokenizer.token_to_id(END_OF_TEXT) is None:
        raise TokenizerError(Text("tokenizer.no_end_of_text", path=str(path), token=END_OF_TEXT))
    return _literal_special_text(tokenizer)


def fingerprint(tokenizer: Tokenizer) -> str:
    """A short hash of the vocabulary and merges: the same text always gives the same ids."""
    model = json.loads(tokenizer.to_str())["model"]
    canonical = json.dumps({"vocab": model["vocab"], "merges": model["merges"]}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def file_fingerprint(path: str | os.PathLike) -> str:
    """The fingerprint of the tokenizer file at `path` (TokenizerError as load_tokenizer raises it).

    Remembered while the file keeps its size and modification time: hashing 24,000 tokens and
    their merges takes 0.1-0.3 s, and the app checks the tokenizer each time a run saves.
    """
    path = Path(path)
    if not path.is_file():
        load_tokenizer(path)  # raises the sentence for a missing file
    stat = path.stat()
    return _fingerprint_of_unchanged_file(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _fingerprint_of_unchanged_file(path: str, size: int, mtime_ns: int) -> str:
    return fingerprint(load_tokenizer(path))


def end_of_text_id(tokenizer: Tokenizer) -> int:
    return tokenizer.token_to_id(END_OF_TEXT)
