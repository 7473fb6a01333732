"""The model explaining itself: probabilities of generated tokens, forced alternatives, scores, attention maps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt.attention_maps import attention_maps
from gpt.config import Config
from gpt.generate import generate
from gpt.inference import LoadedModel, load_model
from gpt.model import GPT
from gpt.probabilities import (ALTERNATIVES, Score, continue_with, forced_prompt, inspect_generation,
                               most_surprising, score_ids, score_text, to_json, token_texts)
from gpt.sampling import SamplingOptions
from gpt.text import INVISIBLE_CONTROLS, token_bytes_table
from gpt.tokenizer import END_OF_TEXT, end_of_text_id
from gpt.train import estimate_loss
from ui.inside_plots import attention_figure, surprise_strength, unique_labels

from conftest import precisions

KOREAN = ("채용 공고: 백엔드 개발자를 모집합니다. 서울 근무, 경력 3년 이상 우대합니다! "
          "😀 함께 성장해요.")

SETTINGS = [
    SamplingOptions(temperature=0, max_new_tokens=24),
    SamplingOptions(temperature=1.0, top_k=0, max_new_tokens=24),
    SamplingOptions(temperature=0.7, top_k=20, max_new_tokens=24),
    SamplingOptions(temperature=0.8, top_k=0, top_p=0.6, max_new_tokens=24),
    SamplingOptions(temperature=0.9, top_k=8, top_p=0.9, max_new_tokens=24),
]


@pytest.fixture(scope="module")
def loaded(trained) -> LoadedModel:
    config, checkpoint = trained
    return load_model(checkpoint, config.tok_path, precision="float32")


@pytest.fixture(scope="module")
def lively(tokenizer) -> GPT:
    """A random model with weights scaled up, over the test tokenizer's vocabulary: peaked, varied
    distributions, so that top-k and top-p really cut (a briefly trained model's are nearly flat)."""
    torch.manual_seed(0)
    model = GPT(Config(vocab_size=tokenizer.get_vocab_size(), block_size=64, n_layer=2, n_head=2, n_embd=32,
                       dropout=0.0)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(5)
    return model


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sampler_reference(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """What the sampler draws from (V,), computed plainly in float64: greedy is certain of the argmax;
    else temperature, top-k by masking, top-p over the sorted probabilities."""
    if options.temperature <= 0:
        return F.one_hot(logits.argmax(), logits.numel()).double()
    scaled = logits.double() / options.temperature
    if 0 < options.top_k < logits.numel():
        kth_best = scaled.topk(options.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth_best, float("-inf"))
    probabilities = scaled.softmax(dim=-1)
    if options.top_p < 1.0:
        order = probabilities.argsort(descending=True)
        before = probabilities[order].cumsum(dim=-1) - probabilities[order]
        probabilities[order[before >= options.top_p]] = 0.0
        probabilities = probabilities / probabilities.sum()
    return probabilities


def full_forward_logits(model: GPT, context: list[int]) -> torch.Tensor:
    """The last position's logits (V,) from the whole context, no cache."""
    with torch.no_grad():
        return model(torch.tensor([context]))[0][0, -1]


# ---------------------------------------------------------------------------------------------
# Inspecting a generation


@pytest.mark.parametrize("options", SETTINGS, ids=lambda o: f"t{o.temperature}-k{o.top_k}-p{o.top_p}")
def test_probabilities_are_the_softmax_of_the_model_under_the_settings(lively, tokenizer, options):
    prompt = tokenizer.encode("채용 공고: the team").ids
    inspected = inspect_generation(lively, tokenizer, prompt, options, seeded(11))
    ids = [token.id for token in inspected]
    assert len(inspected) == options.max_new_tokens
    if options.temperature > 0:
        assert len(set(ids)) > 3  # varied output: the comparisons mean something
    for position, token in enumerate(inspected):
        logits = full_forward_logits(lively, prompt + ids[:position])
        raw = logits.double().softmax(dim=-1)
        sampled = sampler_reference(logits, options)
        assert sampled.sum().item() == pytest.approx(1.0, abs=1e-9)
        assert token.raw_prob == pytest.approx(raw[token.id].item(), abs=1e-5)
        assert token.prob == pytest.approx(sampled[token.id].item(), abs=1e-5)
        assert token.prob > 0  # a token the settings cut is never drawn

        assert len(token.alternatives) == ALTERNATIVES
        raw_probs = [alternative.raw_prob for alternative in token.alternatives]
        assert raw_probs == sorted(raw_probs, reverse=True)
        assert raw_probs == pytest.approx(raw.topk(ALTERNATIVES).values.tolist(), abs=1e-5)
        for alternative in token.alternatives:
            assert alternative.raw_prob == pytest.approx(raw[alternative.id].item(), abs=1e-5)
            assert alternative.prob == pytest.approx(sampled[alternative.id].item(), abs=1e-5)
        probs = [alternative.prob for alternative in token.alternatives]
        assert probs == sorted(probs, reverse=True)  # the settings keep the order
        same = [alternative for alternative in token.alternatives if alternative.id == token.id]
        if same:
            assert (same[0].prob, same[0].raw_prob) == (token.prob, token.raw_prob)
        if options.temperature <= 0:
            assert token.prob == 1.0 and token.alternatives[0].id == token.id
            assert sum(probs) == 1.0
        elif 0 < options.top_k <= ALTERNATIVES:
            assert sum(probs) == pytest.approx(1.0, abs=1e-5)  # every candidate is among the alternatives
    if options.top_p < 1 or 0 < options.top_k < ALTERNATIVES:
        # The settings did cut: some of the likeliest alternatives got probability 0 from the sampler.
        assert any(a.prob == 0 and a.raw_prob > 0 for token in inspected for a in token.alternatives)


@pytest.mark.parametrize("options", [*SETTINGS, SamplingOptions(temperature=0.8, top_k=40, max_new_tokens=150)],
                         ids=lambda o: f"t{o.temperature}-k{o.top_k}-p{o.top_p}-n{o.max_new_tokens}")
def test_inspecting_generates_the_ids_generate_gives_with_the_same_seed(lively, tokenizer, options):
    prompt = tokenizer.encode("Senior engineer").ids
    for seed in (0, 1, 2):
        expected = list(generate(lively, prompt, options, seeded(seed)))
        assert [token.id for token in inspect_generation(lively, tokenizer, prompt, options, seeded(seed))] == expected


def test_forcing_an_alternative_continues_like_a_prompt_that_ends_with_it(lively, tokenizer):
    options = SamplingOptions(temperature=1.0, top_k=30, max_new_tokens=20)
    prompt = tokenizer.encode("우리는 여러분을").ids
    inspected = inspect_generation(lively, tokenizer, prompt, options, seeded(5))
    ids = [token.id for token in inspected]
    position = 6
    alternative = next(a for a in inspected[position].alternatives if a.id != ids[position])
    assert forced_prompt(prompt, inspected, position, alternative.id) == prompt + ids[:position] + [alternative.id]

    rewritten = continue_with(lively, tokenizer, prompt, inspected, position, alternative.id, options, seed=5)
    expected = list(generate(lively, prompt + ids[:position] + [alternative.id], options, seeded(5)))
    assert [token.id for token in rewritten] == ids[:position] + [alternative.id] + expected
    forced = rewritten[position]
    assert (forced.prob, forced.raw_prob) == (alternative.prob, alternative.raw_prob)
    assert forced.alternatives == inspected[position].alternatives
    kept = [(token.id, token.prob, token.raw_prob, token.alternatives) for token in rewritten[:position]]
    assert kept == [(token.id, token.prob, token.raw_prob, token.alternatives) for token in inspected[:position]]

    with pytest.raises(ValueError, match="position"):
        forced_prompt(prompt, inspected, len(inspected), alternative.id)
    offered = {a.id for a in inspected[position].alternatives} | {ids[position]}
    never_offered = next(i for i in range(tokenizer.get_vocab_size()) if i not in offered)
    with pytest.raises(ValueError, match="alternatives"):
        continue_with(lively, tokenizer, prompt, inspected, position, never_offered, options, seed=5)


def bytes_decoded(tokenizer, ids: list[int]) -> str:
    """The text of ids as their bytes say, bytes that never form a character and control characters (but newline
    and tab) dropped, end of text by name."""
    table, end_of_text = token_bytes_table(tokenizer), end_of_text_id(tokenizer)
    documents, current = [], b""
    for token_id in ids:
        if token_id == end_of_text:
            documents.append(current.decode("utf-8", errors="ignore").translate(INVISIBLE_CONTROLS))
            current = b""
        else:
            current += table[token_id]
    return END_OF_TEXT.join([*documents, current.decode("utf-8", errors="ignore").translate(INVISIBLE_CONTROLS)])


def test_korean_is_never_shown_as_broken_characters(loaded):
    model, tokenizer = loaded.model, loaded.tokenizer
    prompt = loaded.prompt_ids(KOREAN[:20])
    options = SamplingOptions(temperature=1.0, top_k=0, max_new_tokens=40)
    inspected = inspect_generation(model, tokenizer, prompt, options, seeded(3))
    # Forced to a token that ends inside a character (a Korean syllable's first bytes), continued.
    partial = next(a for token in inspected for a in token.alternatives if a.text.startswith("<0x"))
    position = next(i for i, token in enumerate(inspected) if partial in token.alternatives)
    rewritten = continue_with(model, tokenizer, prompt, inspected, position, partial.id, options, seed=3)
    for tokens in (inspected, rewritten):
        ids = [token.id for token in tokens]
        texts = [token.text for token in tokens]
        assert not any("\ufffd" in text for text in texts)
        assert not any("\ufffd" in a.text for token in tokens for a in token.alternatives)
        assert "".join(texts) == bytes_decoded(tokenizer, ids)
        assert all(token.text == "" for token in tokens if token.joined_with_next)
        assert not tokens[-1].joined_with_next
    assert rewritten[position].joined_with_next  # its character continues in the next token
    assert any(token.joined_with_next for token in inspected)

    score = score_text(model, tokenizer, KOREAN)
    assert "".join(token.text for token in score.tokens) == KOREAN
    assert any(token.joined_with_next for token in score.tokens)
    assert not any("\ufffd" in token.text for token in score.tokens)


def test_single_tokens_read_as_text_or_as_their_bytes(tokenizer):
    table = token_bytes_table(tokenizer)
    end_of_text = end_of_text_id(tokenizer)
    partial = next(i for i, raw in enumerate(table) if i != end_of_text and not _decodes(raw))
    whole = tokenizer.encode(" team").ids[0]
    texts = token_texts(tokenizer, [end_of_text, partial, whole])
    assert texts[0] == END_OF_TEXT
    assert texts[1] == "<" + " ".join(f"0x{byte:02X}" for byte in table[partial]) + ">"
    assert texts[2] == table[whole].decode("utf-8")


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_json_holds_every_number_and_text(lively, tokenizer):
    inspected = inspect_generation(lively, tokenizer, tokenizer.encode("data").ids,
                                   SamplingOptions(temperature=0.8, max_new_tokens=5), seeded(0))
    rows = to_json(inspected)
    assert [row["id"] for row in rows] == [token.id for token in inspected]
    first = rows[0]
    assert set(first) == {"text", "id", "prob", "raw_prob", "alternatives", "joined_with_next"}
    assert first["prob"] == inspected[0].prob and first["raw_prob"] == inspected[0].raw_prob
    best = inspected[0].alternatives[0]
    assert first["alternatives"][0] == {"text": best.text, "id": best.id, "prob": best.prob, "raw_prob": best.raw_prob}
    assert json.loads(json.dumps(rows)) == rows  # plain values only


# ---------------------------------------------------------------------------------------------
# Scoring a text


def test_score_of_a_validation_window_is_the_evaluation_loss(loaded, trained, prepared):
    config, _ = trained
    folder, _ = prepared
    model = loaded.model
    block_size = model.cfg.block_size
    window = np.fromfile(folder / "val.bin", dtype=np.uint16)[100:100 + block_size + 1]
    assert len(window) == block_size + 1  # get_batch's only start is then 0: exactly this window
    bits = score_ids(model, window.tolist())
    assert len(bits) == block_size
    evaluated = estimate_loss(model, {"val": window}, config.replace(batch_size=1, eval_iters=1), torch.device("cpu"),
                              torch.float32)["val"]
    model.eval()  # estimate_loss leaves the model in training mode
    assert sum(bits) / len(bits) * math.log(2) == pytest.approx(evaluated, abs=1e-4)


def test_score_counts_bits_per_byte_of_the_text(loaded):
    model, tokenizer = loaded.model, loaded.tokenizer
    score = score_text(model, tokenizer, KOREAN)
    assert isinstance(score, Score)
    ids = tokenizer.encode(KOREAN).ids
    assert [token.id for token in score.tokens] == ids
    assert score.bytes == len(KOREAN.encode("utf-8"))
    assert score.total_bits == pytest.approx(sum(token.bits for token in score.tokens))
    assert score.bits_per_byte == pytest.approx(score.total_bits / score.bytes)
    # The first token is scored as the start of a document.
    first = full_forward_logits(model, [end_of_text_id(tokenizer)]).log_softmax(dim=-1)[ids[0]]
    assert score.tokens[0].bits == pytest.approx(-first.item() / math.log(2), abs=1e-4)

    surprising = most_surprising(score, n=5)
    assert len(surprising) == 5
    assert [piece.bits for piece in surprising] == sorted((piece.bits for piece in surprising), reverse=True)
    every_piece = most_surprising(score, n=len(score.tokens))
    assert sum(piece.bits for piece in every_piece) == pytest.approx(score.total_bits)
    assert "".join(piece.text for piece in sorted(every_piece, key=lambda piece: piece.positions.start)) == KOREAN
    with pytest.raises(ValueError):
        score_text(model, tokenizer, "")


def test_a_long_text_is_scored_once_per_token_with_half_a_block_of_context(loaded):
    model, tokenizer = loaded.model, loaded.tokenizer
    block_size = model.cfg.block_size
    ids = [end_of_text_id(tokenizer), *tokenizer.encode(KOREAN * 6).ids]
    assert len(ids) > 3 * block_size
    bits = score_ids(model, ids)
    assert len(bits) == len(ids) - 1
    assert bits[:block_size] == pytest.approx(score_ids(model, ids[:block_size + 1]), abs=1e-5)
    for target in range(block_size + 1, len(ids)):
        # Some window of block_size/2 .. block_size tokens of context ending just before the target gave its bits.
        starts = range(max(target - block_size, 0), target - block_size // 2 + 1)
        batch = torch.zeros(len(starts), block_size, dtype=torch.long)
        for row, start in enumerate(starts):
            batch[row, :target - start] = torch.tensor(ids[start:target])  # padding after it changes nothing (causal)
        with torch.no_grad():
            logits, _ = model(batch, batch)  # targets only to get every position's logits
        candidates = [-logits[row, target - start - 1].log_softmax(dim=-1)[ids[target]].item() / math.log(2)
                      for row, start in enumerate(starts)]
        assert min(abs(candidate - bits[target - 1]) for candidate in candidates) < 1e-4, target


# ---------------------------------------------------------------------------------------------
# Attention maps


def attention_outputs(model: GPT, ids: list[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each layer's qkv output and attention output (after proj), caught with hooks of the test's own."""
    qkv, outputs = [], []
    handles = [block.attn.qkv.register_forward_hook(lambda m, i, o: qkv.append(o)) for block in model.blocks]
    handles += [block.attn.register_forward_hook(lambda m, i, o: outputs.append(o)) for block in model.blocks]
    try:
        with torch.no_grad():
            model(torch.tensor([ids]))
    finally:
        for handle in handles:
            handle.remove()
    return qkv, outputs


@pytest.mark.parametrize("precision", precisions("float32", "int8", "int4"))
def test_attention_maps_give_back_each_layers_attention_output(trained, precision):
    config, checkpoint = trained
    loaded = load_model(checkpoint, config.tok_path, precision=precision)
    model = loaded.model
    cfg = model.cfg
    ids = loaded.prompt_ids(KOREAN)[:cfg.block_size]
    T, C, n_head = len(ids), cfg.n_embd, cfg.n_head
    maps = attention_maps(model, ids)
    assert maps.shape == (cfg.n_layer, n_head, T, T) and maps.dtype == torch.float32
    assert torch.allclose(maps.sum(dim=-1), torch.ones(cfg.n_layer, n_head, T), atol=1e-5)
    assert (maps.triu(diagonal=1) == 0).all()
    assert all(not block.attn.qkv._forward_hooks for block in model.blocks)  # hooks removed

    qkv, outputs = attention_outputs(model, ids)
    with torch.no_grad():
        for layer, block in enumerate(model.blocks):
            v = qkv[layer][0, :, 2 * C:].float().view(T, n_head, C // n_head).transpose(0, 1)  # (nh, T, hs)
            joined = (maps[layer] @ v).transpose(0, 1).reshape(1, T, C)  # heads side by side
            # Outputs are small (about 0.05 here): 1e-6 rather than 1e-5 keeps the comparison meaningful.
            # int8 layers compute in bfloat16 (8 bits of mantissa): a few of its roundings apart.
            tolerance = 1e-6 if precision == "float32" else 2e-3
            assert torch.allclose(block.attn.proj(joined).float(), outputs[layer].float(), atol=tolerance), layer


def test_attention_maps_refuse_too_long_a_sequence_and_remove_their_hooks_on_error(lively):
    with pytest.raises(ValueError, match="block_size"):
        attention_maps(lively, [1] * (lively.cfg.block_size + 1))
    with pytest.raises(IndexError):
        attention_maps(lively, [lively.cfg.vocab_size + 5])  # fails inside the model, after the hooks went in
    assert all(not block.attn.qkv._forward_hooks for block in lively.blocks)


# ---------------------------------------------------------------------------------------------
# Pictures


@pytest.mark.parametrize("head", [0, None])
def test_attention_figure_shows_every_weight_under_its_tokens(lively, tokenizer, head):
    ids = tokenizer.encode("the team 채용 the team").ids
    maps = attention_maps(lively, ids)
    labels = token_texts(tokenizer, ids)
    figure = attention_figure(maps, labels, layer=1, head=head, title="layer 2")
    heatmap = figure.data[0]
    T = len(ids)
    assert heatmap.type == "heatmap"
    assert len(heatmap.z) == T and all(len(row) == T for row in heatmap.z)
    expected = maps[1, head] if head is not None else maps[1].mean(dim=0)
    assert np.allclose(np.array(heatmap.z), expected.numpy(), atol=1e-6)
    assert list(heatmap.x) == list(heatmap.y) == unique_labels(labels)
    assert len(set(heatmap.x)) == T  # repeated tokens stay apart
    assert all(label.endswith(text.replace("\n", "↵")) for label, text in zip(heatmap.x, labels))
    assert figure.layout.yaxis.autorange == "reversed"
    with pytest.raises(ValueError):
        attention_figure(maps, labels[:-1], layer=0, head=0)


def test_surprise_goes_from_expected_to_a_random_guess():
    assert surprise_strength(0.0, 600) == 0.0
    assert surprise_strength(math.log2(600), 600) == surprise_strength(50.0, 600) == 1.0
