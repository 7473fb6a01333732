"""Byte-level BPE: exact round trips for any text, saving and loading, fingerprints, bad files."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from gpt.tokenizer import (END_OF_TEXT, TokenizerError, end_of_text_id, fingerprint, load_tokenizer, save_tokenizer,
                           train_tokenizer)

from conftest import TEST_VOCAB_SIZE, make_text

TEXTS = [
    "",
    "안녕하세요, 세계! 채용 공고입니다.",
    "🚀👩‍💻✨😀 emoji only 🎉🇰🇷",
    "Hello 세계 🌍 123 ünïcødé Ελληνικά 中文 العربية עברית",
    "  \t\n\n  \r\n\t x  \t",
    "\n",
    " ",
    "trailing spaces   ",
    "   leading spaces",
    "control \x00\x01\x1b\x7f bytes",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP 𝕏",
    "a" * 500,
    "줄바꿈\r\n윈도우\r\n",
    "\u200b zero width \ufeff BOM \u00a0 nbsp",
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_round_trip_is_exact(tokenizer, text):
    ids = tokenizer.encode(text).ids
    assert tokenizer.decode(ids) == text


def test_literal_end_of_text_in_user_text_round_trips(tokenizer):
    text = "before <|endoftext|> after"
    ids = tokenizer.encode(text).ids
    assert end_of_text_id(tokenizer) not in ids
    assert tokenizer.decode(ids) == text


def test_round_trip_on_the_training_text(tokenizer, text_file):
    text = text_file.read_text(encoding="utf-8")[:20_000]
    assert tokenizer.decode(tokenizer.encode(text).ids) == text


@pytest.mark.parametrize("text", TEXTS[1:], ids=range(1, len(TEXTS)))
def test_no_unknown_tokens(tokenizer, text):
    encoding = tokenizer.encode(text)
    vocab = tokenizer.get_vocab()
    assert encoding.ids, "non-empty text must give tokens"
    assert all(0 <= i < tokenizer.get_vocab_size() for i in encoding.ids)
    assert all(token in vocab for token in encoding.tokens)
    assert end_of_text_id(tokenizer) not in encoding.ids


def test_every_byte_value_is_in_the_vocabulary(tokenizer):
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    assert len(alphabet) == 256
    vocab = tokenizer.get_vocab()
    assert all(character in vocab for character in alphabet)


def test_vocab_size_and_end_of_text(tokenizer):
    assert tokenizer.get_vocab_size() == TEST_VOCAB_SIZE
    eot = end_of_text_id(tokenizer)
    assert isinstance(eot, int) and tokenizer.id_to_token(eot) == END_OF_TEXT


def test_save_and_load_keep_the_ids(tokenizer, tmp_path):
    path = tmp_path / "nested" / "tokenizer.json"
    save_tokenizer(tokenizer, path)
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]  # no temporary file left
    loaded = load_tokenizer(path)
    for text in TEXTS:
        assert loaded.encode(text).ids == tokenizer.encode(text).ids
    assert fingerprint(loaded) == fingerprint(tokenizer)
    assert end_of_text_id(loaded) == end_of_text_id(tokenizer)


def test_save_replaces_an_existing_file(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text("old")
    save_tokenizer(tokenizer, path)
    assert fingerprint(load_tokenizer(path)) == fingerprint(tokenizer)


def test_fingerprint_is_stable_and_tells_tokenizers_apart(tokenizer):
    assert fingerprint(tokenizer) == fingerprint(tokenizer)
    assert fingerprint(Tokenizer.from_str(tokenizer.to_str())) == fingerprint(tokenizer)
    assert len(fingerprint(tokenizer)) == 16 and int(fingerprint(tokenizer), 16) >= 0
    other_text = train_tokenizer([make_text(30_000, seed=99)], 400)
    other_size = train_tokenizer([make_text(30_000, seed=0)], 450)
    same_again = train_tokenizer([make_text(30_000, seed=99)], 400)
    assert fingerprint(other_text) != fingerprint(tokenizer)
    assert fingerprint(other_size) != fingerprint(other_text)
    assert fingerprint(same_again) == fingerprint(other_text)  # training is deterministic


def test_train_tokenizer_streams_an_iterator():
    pieces = (make_text(2_000, seed=i) for i in range(10))  # a generator, read once
    trained = train_tokenizer(pieces, 300)
    assert 257 <= trained.get_vocab_size() <= 300
    assert trained.decode(trained.encode("채용 공고 🚀").ids) == "채용 공고 🚀"


def test_missing_file_is_explained(tmp_path):
    with pytest.raises(TokenizerError) as raised:
        load_tokenizer(tmp_path / "nope" / "tokenizer.json")
    message = str(raised.value)
    assert "does not exist" in message and "tokenizer.json" in message and "prepare" in message


def test_a_folder_is_not_a_tokenizer(tmp_path):
    with pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("content", ["{not json", "", "{}", '{"model": 3}', "\x00\x01binary"])
def test_corrupt_file_is_explained(tmp_path, content):
    path = tmp_path / "tokenizer.json"
    path.write_text(content)
    with pytest.raises(TokenizerError) as raised:
        load_tokenizer(path)
    message = str(raised.value)
    assert str(path) in message and "corrupt" in message and "prepare the data again" in message
    assert "\n" not in message


def test_truncated_file_is_explained(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    text = tokenizer.to_str()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(TokenizerError, match="corrupt"):
        load_tokenizer(path)


def test_tokenizer_without_end_of_text_is_refused(tmp_path):
    foreign = Tokenizer(models.BPE())
    foreign.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    foreign.train_from_iterator([make_text(5_000)], trainer=trainers.BpeTrainer(vocab_size=300, show_progress=False))
    path = tmp_path / "foreign.json"
    foreign.save(str(path))
    with pytest.raises(TokenizerError) as raised:
        load_tokenizer(path)
    assert END_OF_TEXT in str(raised.value) and "not made by this project" in str(raised.value)


def test_saved_file_is_plain_json(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    save_tokenizer(tokenizer, path)
    content = json.loads(path.read_text(encoding="utf-8"))
    assert content["model"]["type"] == "BPE"
    assert any(token["content"] == END_OF_TEXT for token in content["added_tokens"])
