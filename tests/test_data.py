"""Data: checking text files, preparing bins atomically, memory-mapped reading, batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gpt.data as data
from gpt.data import (DataError, check_text_file, document_source, file_source, get_batch, open_tokens,
                      prepare_dataset, prepare_files, read_meta)
from gpt.tokenizer import end_of_text_id, fingerprint, load_tokenizer

from conftest import DATA_FILES, TEST_VOCAB_SIZE, make_text


def run(steps):
    """Drive a preparation generator to the end; return (progress events, DataInfo)."""
    events = []
    try:
        while True:
            events.append(next(steps))
    except StopIteration as finished:
        return events, finished.value


def outputs(folder):
    return folder / "train.bin", folder / "val.bin", folder / "tokenizer.json"


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------------------------
# The prepared bins


def test_bins_are_uint16_and_match_meta(prepared, text_file):
    folder, info = prepared
    train_bin, val_bin, tok_path = outputs(folder)
    assert train_bin.stat().st_size == 2 * info.train_tokens
    assert val_bin.stat().st_size == 2 * info.val_tokens
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert meta["train_tokens"] == info.train_tokens and meta["val_tokens"] == info.val_tokens
    assert read_meta(train_bin) == info
    assert info.text_bytes == text_file.stat().st_size
    assert info.source == text_file.name
    tokenizer = load_tokenizer(tok_path)
    assert info.vocab_size == tokenizer.get_vocab_size() == TEST_VOCAB_SIZE
    assert info.tokenizer_fingerprint == fingerprint(tokenizer)
    train, val = open_tokens(train_bin), open_tokens(val_bin)
    assert train.dtype == np.uint16 and val.dtype == np.uint16
    assert len(train) == info.train_tokens and len(val) == info.val_tokens
    assert int(train.max()) < info.vocab_size and int(val.max()) < info.vocab_size
    assert info.tokens_per_byte == pytest.approx((info.train_tokens + info.val_tokens) / info.text_bytes)


def test_split_is_99_to_1(prepared):
    _, info = prepared
    total = info.train_tokens + info.val_tokens
    assert info.val_tokens == int(total * 0.01)
    assert info.train_tokens == total - info.val_tokens
    assert info.val_tokens >= 2


def test_bins_decode_back_to_the_text(prepared, text_file):
    """Train then val is the whole token stream, ending with end-of-text after the file."""
    folder, _ = prepared
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    ids = np.concatenate([open_tokens(folder / "train.bin"), open_tokens(folder / "val.bin")]).tolist()
    assert ids[-1] == end_of_text_id(tokenizer)
    assert ids.count(end_of_text_id(tokenizer)) == 1
    assert tokenizer.decode(ids) == text_file.read_text(encoding="utf-8")


def test_val_fraction_is_respected(tmp_path, text_file):
    _, info = run(prepare_files([text_file], *outputs(tmp_path), 400, val_fraction=0.1))
    total = info.train_tokens + info.val_tokens
    assert info.val_tokens == int(total * 0.1)


def test_progress_is_reported(tmp_path, text_file):
    events, info = run(prepare_files([text_file], *outputs(tmp_path), 300))
    stages = [e.stage for e in events]
    assert stages[0] == "tokenizer" and stages[-1] == "done"
    assert "encode" in stages
    encode = [e for e in events if e.stage == "encode"]
    assert encode[-1].done == info.text_bytes == encode[-1].total
    assert all(a.done <= b.done for a, b in zip(encode, encode[1:]))


def test_several_files_are_several_documents(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"doc{i}.txt")
        paths[-1].write_text(make_text(20_000, seed=i), encoding="utf-8")
    _, info = run(prepare_files(paths, *outputs(tmp_path / "out"), 300))
    tokenizer = load_tokenizer(tmp_path / "out" / "tokenizer.json")
    ids = np.concatenate([open_tokens(tmp_path / "out" / "train.bin"), open_tokens(tmp_path / "out" / "val.bin")])
    eot = end_of_text_id(tokenizer)
    assert int((ids == eot).sum()) == 3
    documents = tokenizer.decode(ids.tolist(), skip_special_tokens=False).split("<|endoftext|>")
    assert documents[:3] == [p.read_text(encoding="utf-8") for p in paths] and documents[3] == ""
    assert info.source == "doc0.txt, doc1.txt, doc2.txt"


def test_document_source_separates_documents(tmp_path):
    documents = [make_text(3_000, seed=i) for i in range(40)]
    _, info = run(prepare_dataset(document_source(documents), *outputs(tmp_path), 300, source_name="docs"))
    tokenizer = load_tokenizer(tmp_path / "tokenizer.json")
    ids = np.concatenate([open_tokens(tmp_path / "train.bin"), open_tokens(tmp_path / "val.bin")])
    assert int((ids == end_of_text_id(tokenizer)).sum()) == 40
    assert tokenizer.decode(ids.tolist()) == "".join(documents)
    assert info.source == "docs"
    assert list(document_source(["a", "b"])()) == [("a", True), ("b", True)]


# ---------------------------------------------------------------------------------------------
# Reading


def test_open_tokens_memory_maps(prepared):
    folder, info = prepared
    tokens = open_tokens(folder / "train.bin")
    assert isinstance(tokens, np.memmap)
    assert tokens.dtype == np.uint16 and tokens.shape == (info.train_tokens,)
    assert np.array_equal(tokens[:100], np.fromfile(folder / "train.bin", dtype=np.uint16, count=100))


def test_open_tokens_explains_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_tokens(tmp_path / "train.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        open_tokens(tmp_path / "empty.bin")
    (tmp_path / "one.bin").write_bytes(np.array([7], dtype=np.uint16).tobytes())
    with pytest.raises(DataError, match="empty"):
        open_tokens(tmp_path / "one.bin")


def test_get_batch_windows_are_consecutive_tokens(tmp_path):
    """With tokens 0, 1, 2, ... every window tells its own offset."""
    path = tmp_path / "arange.bin"
    np.arange(5000, dtype=np.uint16).tofile(path)
    tokens = open_tokens(path)
    x, y = get_batch(tokens, 16, 24, torch.Generator().manual_seed(0))
    assert x.dtype == torch.int64 and y.dtype == torch.int64
    assert x.shape == (16, 24) and y.shape == (16, 24)
    offsets = x[:, :1]
    assert torch.equal(x, offsets + torch.arange(24))
    assert torch.equal(y, x + 1)
    assert len(set(offsets.flatten().tolist())) > 1  # random offsets, not one window repeated


def test_get_batch_matches_the_memmap_at_the_same_offsets(prepared):
    folder, _ = prepared
    tokens = open_tokens(folder / "train.bin")
    T = 32
    x, y = get_batch(tokens, 8, T, torch.Generator().manual_seed(3))
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(tokens), T + 1)  # every possible window
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        full = np.concatenate([row_x, row_y[-1:]])
        matches = np.flatnonzero((windows == full).all(axis=1))
        assert len(matches) >= 1
        start = matches[0]
        assert np.array_equal(row_x, tokens[start:start + T])
        assert np.array_equal(row_y, tokens[start + 1:start + T + 1])


def test_get_batch_reaches_the_last_token_and_never_past_it(tmp_path):
    path = tmp_path / "short.bin"
    np.arange(10, dtype=np.uint16).tofile(path)
    tokens = open_tokens(path)
    generator = torch.Generator().manual_seed(0)
    offsets = set()
    for _ in range(50):
        x, y = get_batch(tokens, 4, 8, generator)
        offsets.update(x[:, 0].tolist())
        assert int(y.max()) <= 9
    assert offsets == {0, 1}  # 10 tokens hold exactly two windows of 8 + 1
    x, y = get_batch(tokens[:9], 2, 8, generator)  # exactly block_size + 1 tokens: one window
    assert x[0].tolist() == list(range(8)) and y[0].tolist() == list(range(1, 9))


def test_get_batch_is_reproducible_with_a_seeded_generator(prepared):
    folder, _ = prepared
    tokens = open_tokens(folder / "train.bin")
    a = get_batch(tokens, 4, 16, torch.Generator().manual_seed(5))
    b = get_batch(tokens, 4, 16, torch.Generator().manual_seed(5))
    c = get_batch(tokens, 4, 16, torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


# ---------------------------------------------------------------------------------------------
# Checking text files


def write(tmp_path, content: bytes, name="input.txt"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_check_text_file_accepts_utf8_and_returns_its_size(tmp_path):
    content = "안녕하세요 hello 🚀\n".encode()
    assert check_text_file(write(tmp_path, content)) == len(content)


@pytest.mark.parametrize("content, expected", [
    (b"", "input.txt: the file is empty"),
    (b"0123456789\x00rest", "binary file (it contains NUL bytes, first at byte 10)"),
    (b"hello \xff world", "input.txt: not valid UTF-8 at byte 6"),
    ("가나다".encode() + b"\xe9t\xe9" + b" latin-1", "not valid UTF-8 at byte 9"),
    (b"ab\xea\xb0\xffcd", "not valid UTF-8 at byte 2"),
    (b"  \n\t \r\n   \n", "input.txt: the file holds only whitespace"),
    (b"abc" + "가".encode()[:2], "the file ends in the middle of a character"),
])
def test_check_text_file_explains_bad_files(tmp_path, content, expected):
    with pytest.raises(DataError) as raised:
        check_text_file(write(tmp_path, content))
    assert expected in str(raised.value)
    if b"\xff" in content or b"\xe9t" in content:
        assert "UTF-8" in str(raised.value) and "save the file as UTF-8" in str(raised.value)


def test_check_text_file_refuses_files_over_the_limit(tmp_path):
    path = write(tmp_path, b"x" * 2_000_001)
    with pytest.raises(DataError) as raised:
        check_text_file(path, max_bytes=1_000_000)
    assert "2.0 MB is over the 1.0 MB upload limit" in str(raised.value)
    assert check_text_file(path, max_bytes=0) == 2_000_001  # 0: no limit


def test_check_text_file_limit_below_a_megabyte_is_readable(tmp_path):
    with pytest.raises(DataError) as raised:
        check_text_file(write(tmp_path, b"x" * 150_000), max_bytes=100_000)
    assert "over the 0 MB limit" not in str(raised.value)


def test_check_text_file_missing(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        check_text_file(tmp_path / "missing.txt")


def test_check_text_file_finds_errors_in_later_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "READ_CHUNK_BYTES", 8)
    with pytest.raises(DataError, match="NUL bytes, first at byte 21"):
        check_text_file(write(tmp_path, b"a" * 21 + b"\x00"))
    with pytest.raises(DataError, match="not valid UTF-8 at byte 19"):
        check_text_file(write(tmp_path, b"b" * 19 + b"\xff" + b"c" * 5))
    # A character split across two chunks is fine.
    text = ("가" * 30).encode()
    assert check_text_file(write(tmp_path, text)) == len(text)


def test_check_text_file_offset_after_a_character_split_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "READ_CHUNK_BYTES", 4)
    content = "가나다".encode() + b"\xff" + b"x" * 10  # chunk 2 ends inside 다, the bad byte is 9
    assert content[9] == 0xFF
    with pytest.raises(DataError) as raised:
        check_text_file(write(tmp_path, content))
    assert "not valid UTF-8 at byte 9;" in str(raised.value)


def test_check_text_file_offset_of_an_unfinished_last_character(tmp_path):
    content = b"abc" + "가".encode()[:2]
    with pytest.raises(UnicodeDecodeError) as truth:
        content.decode("utf-8")
    with pytest.raises(DataError) as raised:
        check_text_file(write(tmp_path, content))
    assert f"at byte {truth.value.start} " in str(raised.value)


# ---------------------------------------------------------------------------------------------
# file_source


def test_file_source_pieces_are_exactly_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "READ_CHUNK_CHARS", 7)
    content = ("첫 줄\r\n" + "second line 🚀\n" + "\n" + "x" * 300 + "\n" + "세 번째\tline" * 3 + "\n"
               + "no newline at the end 끝")
    path = tmp_path / "multi.txt"
    path.write_bytes(content.encode("utf-8"))
    pieces = list(file_source([path])())
    texts = [piece for piece, _ in pieces]
    assert "".join(texts) == content  # newlines, \r\n and all
    assert len([t for t in texts if t]) > 5  # really many chunks
    assert [end for _, end in pieces] == [False] * (len(pieces) - 1) + [True]
    assert pieces[-1] == ("", True)


def test_file_source_cuts_at_line_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "READ_CHUNK_CHARS", 16)
    lines = [f"line {i} 줄 {'가' * (i % 7)}\n" for i in range(100)]
    path = tmp_path / "lines.txt"
    path.write_text("".join(lines), encoding="utf-8")
    texts = [piece for piece, _ in file_source([path])() if piece]
    assert "".join(texts) == "".join(lines)
    assert all(text.endswith("\n") for text in texts)  # no line is split between two pieces


def test_file_source_one_document_per_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "READ_CHUNK_CHARS", 5)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("first file\nwith lines\n", encoding="utf-8")
    b.write_text("두 번째 파일", encoding="utf-8")
    source = file_source([a, b])
    pieces = list(source())
    ends = [i for i, (_, end) in enumerate(pieces) if end]
    assert len(ends) == 2
    assert "".join(p for p, _ in pieces[:ends[0] + 1]) == a.read_text(encoding="utf-8")
    assert "".join(p for p, _ in pieces[ends[0] + 1:]) == b.read_text(encoding="utf-8")
    assert list(source()) == pieces  # a source can be read again


# ---------------------------------------------------------------------------------------------
# Failures leave the existing data alone


@pytest.fixture
def existing(data_dir):
    """The prepared dataset in tmp_path/data, and its bytes before the failed attempt."""
    return data_dir, snapshot(data_dir)


def assert_untouched(folder, before):
    assert snapshot(folder) == before
    assert not list(folder.rglob("*.tmp"))


def test_too_short_text_is_refused(tmp_path, existing):
    folder, before = existing
    short = write(tmp_path, b"just a few words\n" * 3, "short.txt")
    with pytest.raises(DataError) as raised:
        run(prepare_files([short], *outputs(folder), 300))
    assert "too short" in str(raised.value)
    assert_untouched(folder, before)


@pytest.mark.parametrize("content", [b"", b"bad \xff byte " * 100, b"nul\x00" * 100, b"   \n" * 100])
def test_bad_input_leaves_existing_data_untouched(tmp_path, existing, content):
    folder, before = existing
    with pytest.raises(DataError):
        run(prepare_files([write(tmp_path, content, "bad.txt")], *outputs(folder), 300))
    assert_untouched(folder, before)


def test_no_input_files(tmp_path):
    with pytest.raises(DataError, match="no input files"):
        run(prepare_files([], *outputs(tmp_path), 300))


def test_a_failure_while_encoding_leaves_existing_data_untouched(existing):
    """The source breaks on its second pass, after the tokenizer was trained and some tokens written."""
    folder, before = existing
    calls = []

    def source():
        calls.append(1)
        for i in range(200):
            if len(calls) > 1 and i == 150:
                raise OSError("the disk went away")
            yield make_text(2_000, seed=i), True

    with pytest.raises(OSError, match="disk went away"):
        run(prepare_dataset(source, *outputs(folder), 300))
    assert len(calls) == 2
    assert_untouched(folder, before)


def test_a_successful_prepare_replaces_everything(tmp_path, existing):
    folder, before = existing
    new_text = write(tmp_path, make_text(50_000, seed=7).encode(), "new.txt")
    _, info = run(prepare_files([new_text], *outputs(folder), 300))
    after = snapshot(folder)
    assert set(after) == set(DATA_FILES)
    for name in DATA_FILES:
        assert after[name] != before[name], name
    assert read_meta(folder / "train.bin") == info
    assert load_tokenizer(folder / "tokenizer.json").get_vocab_size() == 300
    assert not list(folder.rglob("*.tmp"))


def test_read_meta_of_missing_or_broken_file(tmp_path):
    assert read_meta(tmp_path / "train.bin") is None
    (tmp_path / "meta.json").write_text("{broken")
    assert read_meta(tmp_path / "train.bin") is None
    (tmp_path / "meta.json").write_text('{"unexpected": 1}')
    assert read_meta(tmp_path / "train.bin") is None
