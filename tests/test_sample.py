"""Sampling: greedy and cached generation, top-k / top-p, safe streaming of text, seeds."""

from __future__ import annotations

import codecs
import threading

import pytest
import torch

from gpt.config import Config
from gpt.model import GPT
from gpt.generate import generate, generate_steps
from gpt.inference import Int4Linear, Int8Linear, LoadedModel, for_inference, load_model
from gpt.sampling import SamplingOptions, pick_next_token
from gpt.text import DOCUMENT_BREAK, TextStream, token_bytes_table, token_pieces
from gpt.tokenizer import END_OF_TEXT, end_of_text_id

from conftest import NEEDS_INT4, precisions

KOREAN = "채용 공고: 백엔드 개발자를 모집합니다. 서울 근무, 경력 3년 이상 우대합니다! 😀 함께 성장해요."


@pytest.fixture(scope="module")
def loaded(trained) -> LoadedModel:
    config, checkpoint = trained
    return load_model(checkpoint, config.tok_path)


@pytest.fixture(scope="module")
def model(loaded) -> GPT:
    return loaded.model


def greedy_reference(model: GPT, prompt: list[int], count: int) -> list[int]:
    """The plain loop: run the whole (last block_size) window, take the argmax."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(count):
            logits, _ = model(torch.tensor([ids[-model.cfg.block_size:]]))
            ids.append(int(logits[0, -1].argmax()))
    return ids[len(prompt):]


def test_loaded_model_is_ready(loaded, trained):
    config, checkpoint = trained
    assert not loaded.model.training
    assert loaded.model.cfg.dropout == 0.0
    assert loaded.model.cfg.block_size == config.block_size == 64
    assert loaded.checkpoint_info["step"] == 60
    assert loaded.checkpoint_info["path"] == str(checkpoint)
    assert loaded.checkpoint_info["val_loss"] is not None


@pytest.fixture(scope="module")
def lively() -> GPT:
    """A random model with weights scaled up: its greedy output changes with the context.

    (A briefly trained model, like a freshly initialised one, answers almost every context with the
    same token, which would make cache-versus-no-cache comparisons pass trivially.)
    """
    torch.manual_seed(0)
    m = GPT(Config(vocab_size=300, block_size=64, n_layer=2, n_head=2, n_embd=32, dropout=0.0)).eval()
    with torch.no_grad():
        for parameter in m.parameters():
            parameter.mul_(5)
    return m


def test_greedy_is_deterministic_and_follows_the_argmax(lively):
    prompt = [5, 17, 42, 8, 99]
    first = list(generate(lively, prompt, SamplingOptions(max_new_tokens=40, temperature=0)))
    second = list(generate(lively, prompt, SamplingOptions(max_new_tokens=40, temperature=0)))
    assert first == second
    assert len(set(first)) > 10  # varied output: the comparisons below mean something
    assert first == greedy_reference(lively, prompt, 40)


def test_greedy_with_and_without_cache_agree_within_block_size(lively):
    prompt = [3, 141, 59, 26, 53]
    cached = list(generate(lively, prompt, SamplingOptions(max_new_tokens=50, temperature=0), use_cache=True))
    plain = list(generate(lively, prompt, SamplingOptions(max_new_tokens=50, temperature=0), use_cache=False))
    assert len(cached) == 50 and len(set(cached)) > 10
    assert cached == plain


def test_greedy_with_and_without_cache_agree_on_the_trained_model(model):
    prompt = [3, 141, 59, 26, 53]
    assert list(generate(model, prompt, SamplingOptions(max_new_tokens=50, temperature=0), use_cache=True)) == list(generate(model, prompt, SamplingOptions(max_new_tokens=50, temperature=0), use_cache=False))


def test_sampling_with_and_without_cache_agree_within_block_size(lively):
    prompt = [9, 8, 7]
    cached = list(generate(lively, prompt, SamplingOptions(max_new_tokens=55, temperature=1.0, top_k=0), generator=torch.Generator().manual_seed(11), use_cache=True))
    plain = list(generate(lively, prompt, SamplingOptions(max_new_tokens=55, temperature=1.0, top_k=0), generator=torch.Generator().manual_seed(11), use_cache=False))
    assert cached == plain and len(set(cached)) > 20


@pytest.mark.parametrize("use_cache", [True, False])
def test_generation_runs_past_block_size(lively, use_cache):
    block_size = lively.cfg.block_size
    prompt = [7, 7, 7]
    ids = list(generate(lively, prompt, SamplingOptions(max_new_tokens=3 * block_size + 5, temperature=0), use_cache=use_cache))
    assert len(ids) == 3 * block_size + 5
    assert all(0 <= i < lively.cfg.vocab_size for i in ids)
    # Until the window is full both ways see the same context.
    inside = block_size - len(prompt) + 1
    reference = greedy_reference(lively, prompt, len(ids))  # a sliding window of the last block_size tokens
    assert ids[:inside] == reference[:inside]
    if not use_cache:
        assert ids == reference


def test_cached_generation_restarts_from_the_last_half_window(lively):
    """The documented behaviour: when the cache is full, continue from the last block_size // 2 tokens."""
    block_size = lively.cfg.block_size
    prompt = [11, 12, 13, 14]
    cached = list(generate(lively, prompt, SamplingOptions(max_new_tokens=2 * block_size + 7, temperature=0), use_cache=True))
    window = list(prompt)
    expected = []
    with torch.no_grad():
        for _ in range(len(cached)):
            token = int(lively(torch.tensor([window]))[0][0, -1].argmax())
            expected.append(token)
            window = (window + [token])[-(block_size // 2):] if len(window) == block_size else window + [token]
    assert cached == expected
    assert len(set(cached[block_size:])) > 5


def test_sampling_past_block_size_with_cache(model):
    ids = list(generate(model, [1], SamplingOptions(max_new_tokens=200, temperature=1.0, top_k=0), generator=torch.Generator().manual_seed(0)))
    assert len(ids) == 200 and all(0 <= i < model.cfg.vocab_size for i in ids)


@pytest.mark.parametrize("use_cache", [True, False])
def test_prompt_longer_than_block_size_keeps_its_last_window(lively, use_cache):
    block_size = lively.cfg.block_size
    prompt = [(i * 37) % 300 for i in range(block_size + 40)]
    ids = list(generate(lively, prompt, SamplingOptions(max_new_tokens=10, temperature=0), use_cache=use_cache))
    assert len(ids) == 10
    assert ids[0] == greedy_reference(lively, prompt[-block_size:], 1)[0]
    assert ids[0] != greedy_reference(lively, prompt[:block_size], 1)[0]  # the window really matters here
    if not use_cache:
        assert ids == greedy_reference(lively, prompt, 10)


# ---------------------------------------------------------------------------------------------
# how the weights are stored for sampling


@pytest.fixture(scope="module")
def exact(trained) -> LoadedModel:
    config, checkpoint = trained
    return load_model(checkpoint, config.tok_path, precision="float32")


def test_default_precision_follows_the_cpu(loaded):
    from gpt.device import pick_inference_precision
    assert loaded.checkpoint_info["precision"] == pick_inference_precision(torch.device("cpu"))


def test_int8_stores_every_linear_layer_in_int8(trained):
    config, checkpoint = trained
    model = load_model(checkpoint, config.tok_path, precision="int8").model
    quantized = [m for m in model.modules() if isinstance(m, Int8Linear)]
    assert len(quantized) == 4 * config.n_layer + 1  # qkv, proj, up, down in each block, and the output layer
    assert all(m.weight.dtype == torch.int8 for m in quantized)
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert model.token_embedding.weight.dtype == torch.bfloat16


def test_int8_layer_is_its_float_layer_to_a_rounding():
    """Each row's weights are rounded to 255 levels of its largest value: the error stays within half a level."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    quantized = Int8Linear(linear)
    step = quantized.scales.float()[:, None]
    assert (step >= linear.weight.detach().abs().amax(dim=1, keepdim=True) / 127).all()  # nothing clipped
    assert (step <= linear.weight.detach().abs().amax(dim=1, keepdim=True) / 127 * 1.01).all()
    restored = quantized.weight.float() * step
    assert ((restored - linear.weight.detach()).abs() <= step * 0.5 + 1e-7).all()
    x = torch.randn(5, 64)
    with torch.no_grad():
        torch.testing.assert_close(quantized(x).float(), linear(x), atol=0.05, rtol=0.05)
        torch.testing.assert_close(quantized.as_function()(x.bfloat16()), quantized(x))


@NEEDS_INT4
def test_int4_stores_the_blocks_in_int4_and_a_layer_it_cannot_take_in_int8(trained):
    config, checkpoint = trained
    model = load_model(checkpoint, config.tok_path, precision="int4").model
    four_bit = [m for m in model.modules() if isinstance(m, Int4Linear)]
    assert len(four_bit) == 4 * config.n_layer  # every block layer fits the kernel (multiples of 16 and 32)
    assert config.vocab_size % 16 != 0 and isinstance(model.lm_head, Int8Linear)  # 600 outputs: int8 instead
    assert all(m.weight.dtype == torch.uint8 for m in four_bit)  # two levels a byte
    assert not any(type(m) is torch.nn.Linear for m in model.modules())


@NEEDS_INT4
def test_int4_layer_is_its_float_layer_to_a_rounding():
    """Each group of 32 weights is rounded to 16 levels between its smallest and largest: within half a level."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    four_bit = Int4Linear(linear)
    scale, offset = four_bit.scales_and_offsets.float().unbind(-1)  # (groups, out) each
    weight = linear.weight.detach().view(48, 2, 32)
    step = scale.t()[:, :, None]
    low = offset.t()[:, :, None] - 8 * step  # the value of level 0
    levels = (weight - low) / step
    assert (levels > -0.51).all() and (levels < 15.51).all()  # nothing clipped
    assert ((levels - levels.round()).abs() <= 0.5 + 1e-3).all()
    with torch.no_grad():
        identity = torch.eye(64)
        restored = four_bit(identity).float().t()  # column i of the layer without its bias is row i of W
        restored = restored - four_bit.bias.float()[:, None]
        assert ((restored - linear.weight.detach()).abs() <= step.expand(48, 2, 32).reshape(48, 64) * 0.5 + 2e-3).all()
        x = torch.randn(5, 64)
        torch.testing.assert_close(four_bit(x).float(), linear(x), atol=0.1, rtol=0.1)
        torch.testing.assert_close(four_bit.as_function()(x.bfloat16()), four_bit(x))


def test_int4_refuses_a_shape_its_kernel_does_not_take():
    with pytest.raises(ValueError, match="multiple of 16 outputs and 32 inputs, not 20 x 64"):
        Int4Linear(torch.nn.Linear(64, 20))


@NEEDS_INT4
def test_int4_output_layer_too_where_the_vocabulary_is_a_multiple_of_16():
    """All layers int4: the one-token forward over the cache and the full forward agree, and text comes out."""
    torch.manual_seed(0)
    model = for_inference(GPT(Config(vocab_size=320, block_size=16, n_layer=2, n_head=2, n_embd=64)), "int4")
    assert isinstance(model.lm_head, Int4Linear)
    prompt = [1, 5, 9]
    steps = list(generate_steps(model, prompt, SamplingOptions(temperature=0, max_new_tokens=10)))
    ids = torch.tensor([prompt + [step.token_id for step in steps]])
    with torch.no_grad():
        full = model(ids, ids)[0][0, len(prompt) - 1:-1].float()
    torch.testing.assert_close(torch.stack([step.logits for step in steps]), full, atol=0.05, rtol=0.05)
    # Greedy picks the full forward's best token, or one within rounding of it (a near-tie may fall
    # either way with another CPU's kernel).
    chosen = torch.tensor([step.token_id for step in steps])
    assert (full.max(-1).values - full.gather(-1, chosen[:, None]).squeeze(-1)).max() <= 0.05


def test_int8_is_refused_off_the_cpu():
    model = GPT(Config(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=32)).to("meta")
    with pytest.raises(ValueError, match="int8 runs on a CPU only"):
        for_inference(model, "int8")


@pytest.mark.parametrize("precision", precisions("int8", "int4", "bfloat16"))
def test_smaller_weights_predict_like_float32(trained, exact, precision):
    """Next-token distributions over a real text stay within a small KL divergence of float32's."""
    config, checkpoint = trained
    small = load_model(checkpoint, config.tok_path, precision=precision)
    assert small.checkpoint_info["precision"] == precision
    ids = torch.tensor([exact.prompt_ids(KOREAN * 3)[:config.block_size]])
    with torch.no_grad():
        reference = exact.model(ids, ids)[0].float().log_softmax(-1)
        approximate = small.model(ids, ids)[0].float().log_softmax(-1)
    kl_per_token = (reference.exp() * (reference - approximate)).sum(-1).mean().item()
    assert kl_per_token < 0.01
    agreement = (reference.argmax(-1) == approximate.argmax(-1)).float().mean().item()
    assert agreement > 0.9


@pytest.mark.parametrize("precision", precisions("int8", "int4", "bfloat16"))
def test_cached_generation_with_smaller_weights_predicts_like_float32(trained, exact, precision):
    """Token by token, the path sampling takes (one-token forward over the cache, which a CPU keeps in
    float32 under these weights), gives the distributions of the float32 model on the same text."""
    config, checkpoint = trained
    small = load_model(checkpoint, config.tok_path, precision=precision)
    prompt = exact.prompt_ids(KOREAN)[:8]
    steps = list(generate_steps(small.model, prompt, SamplingOptions(temperature=0, max_new_tokens=30)))
    ids = torch.tensor([prompt + [step.token_id for step in steps]])
    with torch.no_grad():
        reference = exact.model(ids, ids)[0][0, len(prompt) - 1:-1].float().log_softmax(-1)
    approximate = torch.stack([step.logits for step in steps]).log_softmax(-1)
    kl_per_token = (reference.exp() * (reference - approximate)).sum(-1).mean().item()
    assert kl_per_token < 0.01


def test_int8_model_samples_readable_text(trained):
    config, checkpoint = trained
    small = load_model(checkpoint, config.tok_path, precision="int8")
    text = "".join(small.stream("서울", SamplingOptions(max_new_tokens=40, seed=0)))
    assert text and text == "".join(small.stream("서울", SamplingOptions(max_new_tokens=40, seed=0)))


def test_unknown_precision_is_refused(trained):
    config, checkpoint = trained
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, float16, int8, int4"):
        load_model(checkpoint, config.tok_path, precision="int3")


def test_empty_prompt_is_refused(model):
    with pytest.raises(ValueError, match="at least one prompt token"):
        list(generate(model, [], SamplingOptions(max_new_tokens=5)))


def test_generate_restores_training_mode(trained):
    config, checkpoint = trained
    m = load_model(checkpoint, config.tok_path).model
    m.train()
    list(generate(m, [1, 2], SamplingOptions(max_new_tokens=3, temperature=0)))
    assert m.training
    m.eval()
    list(generate(m, [1, 2], SamplingOptions(max_new_tokens=3, temperature=0)))
    assert not m.training


# ---------------------------------------------------------------------------------------------
# pick_next_token


def test_temperature_zero_is_argmax():
    logits = torch.randn(4, 50)
    assert torch.equal(pick_next_token(logits, SamplingOptions(temperature=0.0, top_k=0)), logits.argmax(-1, keepdim=True))
    assert pick_next_token(logits, SamplingOptions(temperature=0.0, top_k=0)).shape == (4, 1)


def test_tiny_temperature_is_almost_greedy():
    logits = torch.tensor([[0.0, 1.0, 3.0, 2.0]])
    generator = torch.Generator().manual_seed(0)
    picks = {int(pick_next_token(logits, SamplingOptions(temperature=1e-3, top_k=0), generator=generator)) for _ in range(50)}
    assert picks == {2}


def test_top_k_larger_than_the_vocabulary_is_no_cut():
    logits = torch.zeros(1, 10)
    generator = torch.Generator().manual_seed(0)
    picks = {int(pick_next_token(logits, SamplingOptions(temperature=1.0, top_k=10_000), generator=generator)) for _ in range(300)}
    assert picks == set(range(10))


def test_top_k_larger_than_the_vocabulary_in_generate(model):
    ids = list(generate(model, [1], SamplingOptions(max_new_tokens=20, temperature=1.0, top_k=10**6), generator=torch.Generator().manual_seed(1)))
    assert len(ids) == 20


def test_top_k_keeps_the_k_best():
    logits = torch.tensor([[0.5, 3.0, -1.0, 2.9, 0.0, 2.8, 1.0]])
    generator = torch.Generator().manual_seed(0)
    picks = {int(pick_next_token(logits, SamplingOptions(temperature=5.0, top_k=3), generator=generator)) for _ in range(500)}
    assert picks == {1, 3, 5}


def test_top_p_restricts_to_the_nucleus():
    # Probabilities 0.5, 0.3, 0.15, 0.05 in a shuffled order: top_p 0.7 keeps the two best (0.5 + 0.3 >= 0.7).
    probabilities = torch.tensor([0.15, 0.5, 0.05, 0.3])
    logits = probabilities.log().unsqueeze(0).repeat(3, 1)
    generator = torch.Generator().manual_seed(0)
    picks = torch.cat([pick_next_token(logits, SamplingOptions(temperature=1.0, top_p=0.7, top_k=0), generator=generator) for _ in range(300)])
    assert set(picks.flatten().tolist()) == {1, 3}
    picks = {int(pick_next_token(logits[:1], SamplingOptions(temperature=1.0, top_p=0.85, top_k=0), generator=generator)) for _ in range(300)}
    assert picks == {1, 3, 0}  # 0.5 + 0.3 < 0.85: the third best joins
    picks = {int(pick_next_token(logits[:1], SamplingOptions(temperature=1.0, top_p=0.01, top_k=0), generator=generator)) for _ in range(100)}
    assert picks == {1}  # the best one always stays


def test_top_p_per_row():
    logits = torch.tensor([[5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        picks = pick_next_token(logits, SamplingOptions(temperature=1.0, top_p=0.5, top_k=0), generator=generator)
        assert picks.flatten().tolist() == [0, 3]


def test_top_k_and_top_p_together():
    logits = torch.tensor([[4.0, 3.9, 3.8, 3.7, -5.0]])
    generator = torch.Generator().manual_seed(0)
    picks = {int(pick_next_token(logits, SamplingOptions(temperature=1.0, top_k=2, top_p=0.99), generator=generator)) for _ in range(300)}
    assert picks == {0, 1}


# ---------------------------------------------------------------------------------------------
# TextStream


def test_token_bytes_table_matches_the_tokenizer(tokenizer):
    table = token_bytes_table(tokenizer)
    assert len(table) == tokenizer.get_vocab_size()
    assert table[end_of_text_id(tokenizer)] == b""
    for text in (KOREAN, "Hello\tworld\n\n", "🚀👩‍💻 ü"):
        ids = tokenizer.encode(text).ids
        assert b"".join(table[i] for i in ids) == text.encode("utf-8")


def test_text_stream_never_shows_half_a_character(tokenizer):
    ids = tokenizer.encode(KOREAN).ids
    table = token_bytes_table(tokenizer)
    # The test means something only if some token ends inside a character.
    assert any(not _is_utf8(table[i]) for i in ids)
    stream = TextStream(tokenizer)
    pieces = [stream.push(i) for i in ids] + [stream.flush()]
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) == tokenizer.decode(ids) == KOREAN
    assert "" in pieces  # a held-back piece


def test_text_stream_drops_bytes_that_never_form_a_character(tokenizer):
    table = token_bytes_table(tokenizer)
    broken = [i for i, raw in enumerate(table) if raw and not _is_utf8(raw)]
    generator = torch.Generator().manual_seed(0)
    ids = [broken[int(j)] for j in torch.randint(len(broken), (300,), generator=generator)]
    ids += tokenizer.encode("끝 end").ids
    stream = TextStream(tokenizer)
    text = "".join(stream.push(i) for i in ids) + stream.flush()
    assert "\ufffd" not in text
    assert text.endswith("끝 end")


def test_text_stream_drops_control_characters_but_keeps_newlines_and_tabs(tokenizer):
    table = token_bytes_table(tokenizer)
    byte_tokens = {raw: i for i, raw in enumerate(table) if len(raw) == 1}
    ids = [byte_tokens[bytes([code])] for code in (0x00, 0x1B, 0x0D, 0x07, 0x7F)]  # NUL, ESC, CR, BEL, DEL
    ids += [byte_tokens[b"a"], byte_tokens[b"\n"], byte_tokens[b"\t"], byte_tokens[b"b"]]
    ids += [byte_tokens[bytes([0xC2])], byte_tokens[bytes([0x85])]]  # U+0085, a C1 control in two bytes
    stream = TextStream(tokenizer)
    assert "".join(stream.push(i) for i in ids) + stream.flush() == "a\n\tb"


def test_text_stream_shows_the_end_of_a_document_as_a_break_not_as_the_tokens_name(tokenizer):
    stream = TextStream(tokenizer)
    first = tokenizer.encode("가").ids
    text = "".join(stream.push(i) for i in first[:-1])  # hold back part of 가
    text += stream.push(end_of_text_id(tokenizer)) + "next"
    assert END_OF_TEXT not in text and "\ufffd" not in text
    assert text.endswith(DOCUMENT_BREAK + "next") and "─" * 20 in text.splitlines()


def _is_utf8(raw: bytes) -> bool:
    try:
        codecs.decode(raw, "utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------------------------------------
# LoadedModel


def test_stream_with_a_seed_is_reproducible(loaded):
    options = dict(max_new_tokens=40, temperature=1.0, top_k=0)
    a = list(loaded.stream("채용", SamplingOptions(seed=7, **options)))
    b = list(loaded.stream("채용", SamplingOptions(seed=7, **options)))
    c = list(loaded.stream("채용", SamplingOptions(seed=8, **options)))
    assert a == b
    assert "".join(a) != "".join(c)
    assert all("\ufffd" not in piece for piece in a + c)


def test_greedy_stream_equals_greedy_generate(loaded):
    ids = list(generate(loaded.model, loaded.prompt_ids("the"), SamplingOptions(max_new_tokens=30, temperature=0)))
    text = "".join(loaded.stream("the", SamplingOptions(max_new_tokens=30, temperature=0)))
    assert text == stream_text(loaded.tokenizer, ids)


def stream_text(tokenizer, ids):
    stream = TextStream(tokenizer)
    return "".join(stream.push(i) for i in ids) + stream.flush()


def test_empty_prompt_starts_a_new_document(loaded):
    assert loaded.prompt_ids("") == [end_of_text_id(loaded.tokenizer)]
    assert loaded.prompt_ids("채용") == loaded.tokenizer.encode("채용").ids
    assert isinstance("".join(loaded.stream("", SamplingOptions(max_new_tokens=5, seed=0))), str)


def test_stream_can_run_in_a_thread(loaded):
    results = []
    thread = threading.Thread(target=lambda: results.append("".join(loaded.stream("we", SamplingOptions(max_new_tokens=10, seed=1)))))
    thread.start()
    thread.join(30)
    assert results == ["".join(loaded.stream("we", SamplingOptions(max_new_tokens=10, seed=1)))]


def test_a_byte_that_never_becomes_a_character_does_not_swallow_the_rest_of_the_text(tokenizer):
    """An undertrained model can start a character and never finish it: the next token still stands alone."""
    table = token_bytes_table(tokenizer)
    lead_byte = table.index(bytes([0xEC]))  # the first of a Korean syllable's three bytes
    words = [tokenizer.encode(word).ids for word in ("hello", " world", " again")]
    pieces = token_pieces(tokenizer, [lead_byte] + [i for ids in words for i in ids])
    assert "".join(p.text for p in pieces) == "hello world again"
    assert pieces[0].ids[0] == lead_byte and len(pieces) >= 3
    assert all(len(p.ids) <= 2 for p in pieces)  # before the fix: one piece of every id


def test_int4_without_the_kernel_is_refused_with_a_sentence_and_auto_takes_int8(monkeypatch):
    model = GPT(Config(vocab_size=320, block_size=16, n_layer=1, n_head=2, n_embd=32))
    monkeypatch.delattr(torch, "_weight_int4pack_mm_for_cpu", raising=False)  # absent before torch 2.6
    with pytest.raises(ValueError, match="precision int4 needs torch's int4 kernel for CPUs .*; use int8, float32 or bfloat16"):
        for_inference(model, "int4")
    from gpt.device import cpu_has_vector_int_kernels, pick_inference_precision
    assert pick_inference_precision(torch.device("cpu")) == ("int8" if cpu_has_vector_int_kernels() else "float32")


@NEEDS_INT4  # before torch 2.6 the op is absent, which the test above covers
def test_an_int4_kernel_of_another_form_counts_as_missing(monkeypatch):
    """A torch whose private int4 ops take another packing: auto takes int8, and int4 asked for is a sentence."""
    import gpt.device

    def other_form(weight, inner_k_tiles):
        raise RuntimeError("_convert_weight_to_int4pack_cpu : expect weight to be kByte")
    monkeypatch.setattr(torch, "_convert_weight_to_int4pack_for_cpu", other_form)
    gpt.device._int4_kernel_takes_our_packing.cache_clear()
    try:
        assert not gpt.device.int4_kernel_works()
        with pytest.raises(ValueError, match="precision int4 needs torch's int4 kernel"):
            for_inference(GPT(Config(vocab_size=320, block_size=16, n_layer=1, n_head=2, n_embd=32)), "int4")
        expected = "int8" if gpt.device.cpu_has_vector_int_kernels() else "float32"
        assert gpt.device.pick_inference_precision(torch.device("cpu")) == expected
    finally:
        gpt.device._int4_kernel_takes_our_packing.cache_clear()  # the real kernel again for later tests


def test_int8_without_the_kernel_is_refused_with_a_sentence(monkeypatch):
    model = GPT(Config(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=32))
    monkeypatch.delattr(torch, "_weight_int8pack_mm")
    with pytest.raises(ValueError, match="precision int8 needs a newer torch"):
        for_inference(model, "int8")
    monkeypatch.delattr(torch, "_weight_int4pack_mm_for_cpu", raising=False)  # absent before torch 2.6
    from gpt.device import pick_inference_precision
    assert pick_inference_precision(torch.device("cpu")) == "float32"  # auto never picks what cannot run
