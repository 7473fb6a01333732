"""Text to token files and back to training batches.

Preparing: text (the built-in corpus or the user's UTF-8 files) -> a trained tokenizer ->
`train.bin` and `val.bin`, token ids as raw uint16, the last `val_fraction` of the tokens
held out for validation. Text is streamed in pieces and encoded with the tokenizer's batch
encoder on all cores, so a corpus of gigabytes needs little memory. The three files and a
small `meta.json` are written under temporary names and renamed only when everything
succeeded: a bad input never destroys the data that was there.

Reading: the bins are memory-mapped, never loaded; a batch is `batch_size` windows at random
offsets, the targets being the inputs shifted by one token.
"""

from __future__ import annotations

import codecs
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Generator, Iterable, Iterator, Sequence

import numpy as np
import torch

from .files import temporary_path, write_atomically
from .locales import Text
from .tokenizer import end_of_text_id, fingerprint, save_tokenizer, train_tokenizer

TOKEN_DTYPE = np.uint16
READ_CHUNK_BYTES = 1 << 20  # files are checked a megabyte at a time
READ_CHUNK_CHARS = 1 << 16  # and encoded in pieces of about 64 KB
ENCODE_BATCH_PIECES = 64  # pieces handed to the batch encoder at once (spread over all cores)
# The tokenizer learns its merges from at most this much text, taken evenly across the input:
# on a 1 GB file that is minutes faster and far smaller in memory, and the merges barely change.
TOKENIZER_SAMPLE_BYTES = 100_000_000
# The largest text file the app accepts, in MB (GPT_MAX_UPLOAD_MB changes it); the CLI has no limit unless asked.
DEFAULT_MAX_UPLOAD_MB = 50


class DataError(ValueError):
    """Input text that cannot become a dataset, with the reason in plain words."""


@dataclass
class Progress:
    """One step of data preparation, for a progress bar: `done` of `total` units of `unit`."""

    stage: str
    done: float
    total: float
    unit: str = ""
    message: str = ""


@dataclass
class DataInfo:
    """What `meta.json` records beside the bins."""

    train_tokens: int
    val_tokens: int
    text_bytes: int
    vocab_size: int
    tokenizer_fingerprint: str
    source: str
    seconds: float = 0.0

    @property
    def tokens_per_byte(self) -> float:
        return (self.train_tokens + self.val_tokens) / max(self.text_bytes, 1)


# A source of text: called to get a fresh stream of (piece, ends_document) pairs. Called twice,
# once to train the tokenizer and once to encode, so nothing has to be held in memory.
TextSource = Callable[[], Iterator[tuple[str, bool]]]


def meta_path(train_bin: str | os.PathLike) -> Path:
    return Path(train_bin).with_name("meta.json")


def read_meta(train_bin: str | os.PathLike) -> DataInfo | None:
    path = meta_path(train_bin)
    try:
        return DataInfo(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# Checking and reading the user's text files


def max_upload_bytes() -> int:
    return int(float(os.environ.get("GPT_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 1e6)


def check_text_file(path: str | os.PathLike, max_bytes: int = 0) -> int:
    """Raise DataError unless the file is non-empty UTF-8 text within max_bytes (0: any size); return its size."""
    path = Path(path)
    if not path.is_file():
        raise DataError(Text("data.no_such_file", path=str(path)))
    size = path.stat().st_size
    if size == 0:
        raise DataError(Text("data.empty_file", name=path.name))
    if max_bytes and size > max_bytes:
        raise DataError(Text("data.over_limit", name=path.name, size=_size_text(size), limit=_size_text(max_bytes)))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0  # bytes read so far
    text_chars = 0
    with open(path, "rb") as file:
        while chunk := file.read(READ_CHUNK_BYTES):
            if (nul := chunk.find(b"\x00")) >= 0:
                raise DataError(Text("data.binary_file", name=path.name, offset=offset + nul))
            # The decoder may hold the first bytes of a character from the previous chunk.
            carried = len(decoder.getstate()[0])
            try:
                text_chars += len(decoder.decode(chunk).strip())
            except UnicodeDecodeError as error:
                raise DataError(Text("data.not_utf8", name=path.name, offset=offset - carried + error.start)) from None
            offset += len(chunk)
        carried = len(decoder.getstate()[0])
        if carried:
            raise DataError(Text("data.ends_mid_character", name=path.name, offset=offset - carried))
    if text_chars == 0:
        raise DataError(Text("data.only_whitespace", name=path.name))
    return size


def _size_text(size: int) -> Text:
    return Text("data.size_mb", megabytes=size / 1e6) if size >= 1e6 else Text("data.size_bytes", size=size)


def file_source(paths: Sequence[str | os.PathLike]) -> TextSource:
    """Each file is one document, streamed in pieces of whole lines."""

    def pieces() -> Iterator[tuple[str, bool]]:
        for path in paths:
            with open(path, encoding="utf-8", newline="") as file:
                pending = ""
                while chunk := file.read(READ_CHUNK_CHARS):
                    # Cut at the last newline so that no word is split between two pieces
                    # (unless a single line runs on for megabytes).
                    text = pending + chunk
                    cut = text.rfind("\n") + 1
                    if cut == 0 and len(text) < 16 * READ_CHUNK_CHARS:
                        pending = text
                        continue
                    cut = cut or len(text)
                    pending = text[cut:]
                    yield text[:cut], False
                if pending:
                    yield pending, False
            yield "", True

    return pieces


def document_source(documents: Sequence[str]) -> TextSource:
    """Documents already in memory (the built-in corpus), each followed by end-of-text."""

    def pieces() -> Iterator[tuple[str, bool]]:
        for document in documents:
            yield document, True

    return pieces


# ---------------------------------------------------------------------------------------------
# Preparing


def prepare_dataset(
    source: TextSource,
    train_bin: str | os.PathLike,
    val_bin: str | os.PathLike,
    tok_path: str | os.PathLike,
    vocab_size: int,
    val_fraction: float = 0.01,
    source_name: str = "",
    total_bytes: int | None = None,
) -> Generator[Progress, None, DataInfo]:
    """Train a tokenizer on the source and write the bins; yields Progress, returns DataInfo."""
    started = time.perf_counter()
    train_bin, val_bin, tok_path = Path(train_bin), Path(val_bin), Path(tok_path)
    for path in (train_bin, val_bin, tok_path):
        path.parent.mkdir(parents=True, exist_ok=True)

    # One piece in `stride` is enough to learn the merges from (about 64 KB each).
    stride = max(1, -(-(total_bytes or 0) // TOKENIZER_SAMPLE_BYTES))
    sampled = Text("data.sampled_text", stride=stride) if stride > 1 else ""
    yield Progress("tokenizer", 0, 1, message=Text("data.training_tokenizer", vocab_size=vocab_size, sampled=sampled))
    tokenizer = train_tokenizer((piece for index, (piece, _) in enumerate(source()) if piece and index % stride == 0),
                                vocab_size)
    yield Progress("tokenizer", 1, 1, message=Text("data.tokenizer_ready", vocab_size=tokenizer.get_vocab_size()))
    end_of_text = end_of_text_id(tokenizer)

    # All three files are written beside their targets and renamed only when everything succeeded.
    all_tokens, val_temporary, tok_temporary = (temporary_path(path) for path in (train_bin, val_bin, tok_path))
    try:
        token_count = text_bytes = 0
        yield Progress("encode", 0, total_bytes or 0, "bytes", Text("data.encoding"))
        with open(all_tokens, "wb") as out:
            for batch in _batches(source(), ENCODE_BATCH_PIECES):
                encoded = tokenizer.encode_batch_fast([piece for piece, _ in batch])  # ids only, no offsets
                ids: list[int] = []
                for (piece, ends_document), encoding in zip(batch, encoded):
                    ids.extend(encoding.ids)
                    if ends_document:
                        ids.append(end_of_text)
                    text_bytes += len(piece.encode("utf-8"))
                np.asarray(ids, dtype=TOKEN_DTYPE).tofile(out)
                token_count += len(ids)
                yield Progress("encode", text_bytes, total_bytes or 0, "bytes", Text("data.tokens_so_far", count=token_count))
            out.flush()
            os.fsync(out.fileno())

        val_count = int(token_count * val_fraction)
        if token_count < 2 or val_count < 2:
            raise DataError(Text("data.too_short", tokens=token_count, fraction=val_fraction, val_tokens=val_count))
        train_count = token_count - val_count
        # The validation split is the tail of the token stream; cut it off into its own file.
        tokens = np.memmap(all_tokens, dtype=TOKEN_DTYPE, mode="r")
        np.asarray(tokens[train_count:]).tofile(val_temporary)
        del tokens
        os.truncate(all_tokens, train_count * np.dtype(TOKEN_DTYPE).itemsize)
        save_tokenizer(tokenizer, tok_temporary)

        os.replace(all_tokens, train_bin)
        os.replace(val_temporary, val_bin)
        os.replace(tok_temporary, tok_path)
    finally:
        for leftover in (all_tokens, val_temporary, tok_temporary):
            leftover.unlink(missing_ok=True)

    info = DataInfo(train_count, val_count, text_bytes, tokenizer.get_vocab_size(),
                    fingerprint(tokenizer), source_name, round(time.perf_counter() - started, 2))
    write_atomically(meta_path(train_bin), json.dumps(asdict(info), indent=2, ensure_ascii=False))
    yield Progress("done", 1, 1, message=Text("data.done", train_tokens=train_count, val_tokens=val_count))
    return info


def prepare_files(
    paths: Sequence[str | os.PathLike],
    train_bin: str | os.PathLike,
    val_bin: str | os.PathLike,
    tok_path: str | os.PathLike,
    vocab_size: int,
    val_fraction: float = 0.01,
    max_bytes: int = 0,
) -> Generator[Progress, None, DataInfo]:
    """Check the user's text files, then prepare the dataset from them."""
    if not paths:
        raise DataError(Text("data.no_files"))
    total_bytes = sum(check_text_file(path, max_bytes) for path in paths)
    name = ", ".join(Path(path).name for path in paths)
    return (yield from prepare_dataset(file_source(paths), train_bin, val_bin, tok_path, vocab_size,
                                       val_fraction, source_name=name, total_bytes=total_bytes))


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------
# Reading


def open_tokens(path: str | os.PathLike) -> np.memmap:
    """Memory-map a token file without reading it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(Text("data.no_token_file", path=str(path)))
    if path.stat().st_size < 2 * np.dtype(TOKEN_DTYPE).itemsize:
        raise DataError(Text("data.empty_token_file", path=str(path)))
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r")


def get_batch(
    tokens: np.ndarray,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    part: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` random windows: inputs (B, T) and the same windows shifted by one as targets.

    `part` (index, count) keeps one of `count` equal shares of the batch: every process of a
    distributed run draws the same batch and trains on its own share.
    """
    starts = torch.randint(len(tokens) - block_size, (batch_size,), generator=generator).numpy()
    index, count = part
    starts = np.array_split(starts, count)[index]
    windows = tokens[starts[:, None] + np.arange(block_size + 1)].astype(np.int64)  # (B, T+1)
    batch = torch.from_numpy(windows)
    x, y = batch[:, :-1], batch[:, 1:]
    device = torch.device(device)
    if device.type == "cuda":
        # Pinned memory lets the copy overlap with the previous step's compute.
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


# ---------------------------------------------------------------------------------------------
# The built-in corpus


BUILTIN_CORPUS_BYTES = 6_000_000


def prepare_builtin(
    train_bin: str | os.PathLike,
    val_bin: str | os.PathLike,
    tok_path: str | os.PathLike,
    vocab_size: int,
    val_fraction: float = 0.01,
    language: str = "ko",
    target_bytes: int | None = None,
    seed: int = 1337,
) -> Generator[Progress, None, DataInfo]:
    """Generate the synthetic job-posting corpus, keep a readable copy, and prepare the dataset."""
    from .corpus import build_corpus, corpus_text_path

    target_bytes = target_bytes or BUILTIN_CORPUS_BYTES
    yield Progress("generate", 0, target_bytes, "bytes", Text("data.generating", megabytes=target_bytes / 1e6,
                                                              language=language))
    postings = build_corpus(target_bytes=target_bytes, seed=seed, language=language)
    text_copy = write_atomically(corpus_text_path(Path(train_bin).parent, language), "\n\n".join(postings) + "\n")
    yield Progress("generate", target_bytes, target_bytes, "bytes", Text("data.generated", count=len(postings),
                                                                         path=str(text_copy)))
    return (yield from prepare_dataset(document_source(postings), train_bin, val_bin, tok_path, vocab_size,
                                       val_fraction, source_name=f"built-in job postings ({language})",
                                       total_bytes=target_bytes))
