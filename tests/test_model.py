"""The GPT model: shapes, initial loss, parameter count, weight tying, causality, KV cache."""

from __future__ import annotations

import math

import pytest
import torch

from gpt.config import Config
from gpt.model import GPT, count_parameters, estimate_training_memory, training_flops_per_token
from gpt.generate import KVCache


def small(**changes) -> Config:
    values = dict(vocab_size=300, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    values.update(changes)
    return Config(**values)


def scaled_model(scale: float = 1.0, seed: int = 0) -> GPT:
    """A model in eval mode; weights scaled up from the initialisation make attention depend strongly on the context."""
    torch.manual_seed(seed)
    m = GPT(small()).eval()
    with torch.no_grad():
        for parameter in m.parameters():
            parameter.mul_(scale)
    return m


@pytest.fixture
def model():
    return scaled_model(1.0)


def test_output_shapes(model):
    idx = torch.randint(300, (3, 20))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 20, 300)
    assert loss.shape == () and loss.dtype == torch.float32
    logits, loss = model(idx)
    assert logits.shape == (3, 1, 300) and loss is None  # sampling only needs the last position


def test_last_position_without_targets_matches_the_full_forward(model):
    idx = torch.randint(300, (2, 17))
    full, _ = model(idx, idx)
    last, _ = model(idx)
    torch.testing.assert_close(last[:, 0], full[:, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("vocab_size, n_embd", [(300, 32), (1000, 64)])
def test_initial_loss_is_close_to_uniform(vocab_size, n_embd):
    torch.manual_seed(1)
    m = GPT(small(vocab_size=vocab_size, n_embd=n_embd)).eval()
    idx = torch.randint(vocab_size, (8, 32))
    _, loss = m(idx, torch.randint(vocab_size, (8, 32)))
    assert abs(loss.item() - math.log(vocab_size)) < 0.1


def test_loss_is_cross_entropy(model):
    idx, targets = torch.randint(300, (2, 10)), torch.randint(300, (2, 10))
    logits, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 300), targets.reshape(-1))
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("changes", [
    dict(), dict(n_layer=1, n_head=1), dict(n_layer=3, n_head=4, n_embd=64, block_size=16),
    dict(vocab_size=1000, block_size=128, n_layer=4, n_head=8, n_embd=128),
])
def test_count_parameters_matches_the_model(changes):
    cfg = small(**changes)
    m = GPT(cfg)
    assert count_parameters(cfg) == m.num_parameters()
    unique = {p.data_ptr(): p.numel() for p in m.parameters()}
    assert m.num_parameters() == sum(unique.values())


def test_count_parameters_of_the_original_recipe():
    cfg = Config()  # vocab 24000, 6 layers of 384: about 19.9 M parameters
    m = GPT(cfg)
    assert count_parameters(cfg) == m.num_parameters()
    assert 19_000_000 < count_parameters(cfg) < 21_000_000


def test_weight_tying(model):
    assert model.lm_head.weight is model.token_embedding.weight
    # The tied matrix is counted once: removing it once gives the rest.
    without_embedding = sum(p.numel() for n, p in model.named_parameters() if "token_embedding" not in n)
    assert model.num_parameters() == without_embedding + 300 * 32


def test_weight_tying_survives_training_and_loading():
    torch.manual_seed(2)
    a, b = GPT(small()), GPT(small())
    optimizer = a.optimizer(1e-2, 0.01, torch.device("cpu"))
    idx = torch.randint(300, (2, 8))
    _, loss = a(idx, idx)
    loss.backward()
    optimizer.step()
    assert torch.equal(a.lm_head.weight, a.token_embedding.weight)
    b.load_state_dict(a.state_dict())
    assert b.lm_head.weight is b.token_embedding.weight
    assert torch.equal(b.token_embedding.weight, a.token_embedding.weight)
    with torch.no_grad():
        b.token_embedding.weight[0, 0] = 123.0
    assert b.lm_head.weight[0, 0].item() == 123.0


def test_residual_projections_are_scaled_down():
    torch.manual_seed(3)
    m = GPT(small(n_layer=8, n_embd=64))
    expected = 0.02 / math.sqrt(2 * 8)
    for name, parameter in m.named_parameters():
        if name.endswith("proj.weight"):
            assert parameter.std().item() == pytest.approx(expected, rel=0.2), name
    assert m.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_attention_is_causal():
    model = scaled_model(5.0)
    idx = torch.randint(300, (1, 20))
    changed = idx.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % 300
    before, _ = model(idx, idx)
    after, _ = model(changed, changed)
    torch.testing.assert_close(before[:, :12], after[:, :12], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(before[:, 12:], after[:, 12:])


def test_sequence_longer_than_block_size_is_refused(model):
    with pytest.raises(ValueError, match="longer than block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))
    model(torch.zeros(1, 32, dtype=torch.long))  # exactly block_size is fine


@pytest.mark.parametrize("scale", [1.0, 5.0])
@pytest.mark.parametrize("batch", [1, 3])
def test_kv_cache_gives_the_same_logits_as_a_full_forward(batch, scale):
    """Prefill, then a chunk of several tokens (masked attention to the past), then one token at a time."""
    model = scaled_model(scale)
    torch.manual_seed(4)
    idx = torch.randint(300, (batch, 32))
    full, _ = model(idx, idx)  # (B, 32, V): every position
    tolerance = dict(atol=1e-5 * max(1.0, full.abs().max().item()), rtol=1e-5)
    cache = KVCache(model, batch, torch.device("cpu"), torch.float32)
    with torch.no_grad():
        logits, _ = model(idx[:, :10], cache=cache)
        torch.testing.assert_close(logits[:, -1], full[:, 9], **tolerance)
        assert cache.length == 10
        logits, _ = model(idx[:, 10:14], cache=cache)
        torch.testing.assert_close(logits[:, -1], full[:, 13], **tolerance)
        assert cache.length == 14
        for position in range(14, 32):
            logits, _ = model(idx[:, position:position + 1], cache=cache)
            torch.testing.assert_close(logits[:, -1], full[:, position], **tolerance)
        assert cache.length == 32
        with pytest.raises(ValueError, match="longer than block_size"):
            model(idx[:, :1], cache=cache)
        cache.reset()
        logits, _ = model(idx[:, :5], cache=cache)
        torch.testing.assert_close(logits[:, -1], full[:, 4], **tolerance)


@pytest.mark.parametrize("scale", [1.0, 5.0])
@pytest.mark.parametrize("batch", [1, 3])
def test_the_one_token_forward_agrees_with_forward(batch, scale):
    """gpt.generate's fast path for each token after the prompt is the same function as `forward`."""
    model = scaled_model(scale).eval()
    torch.manual_seed(7)
    idx = torch.randint(300, (batch, 32))
    full, _ = model(idx, idx)
    tolerance = dict(atol=1e-5 * max(1.0, full.abs().max().item()), rtol=1e-5)
    one_token = model.one_token_forward()
    cache = KVCache(model, batch, torch.device("cpu"), torch.float32)
    with torch.no_grad():
        model(idx[:, :3], cache=cache)
        for position in range(3, 32):
            logits = one_token(idx[:, position:position + 1], cache)
            torch.testing.assert_close(logits, full[:, position], **tolerance)
        assert cache.length == 32
        with pytest.raises(ValueError, match="longer than block_size"):
            one_token(idx[:, :1], cache)


def test_the_one_token_forward_agrees_under_autocast():
    """The samples at each evaluation run the float32 training model under bfloat16 autocast."""
    model = scaled_model(1.0).eval()
    idx = torch.randint(300, (1, 20))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        cache = KVCache(model, 1, torch.device("cpu"), torch.bfloat16)
        model(idx[:, :19], cache=cache)
        fast = model.one_token_forward()(idx[:, 19:], cache).float()
        cache = KVCache(model, 1, torch.device("cpu"), torch.bfloat16)
        model(idx[:, :19], cache=cache)
        general = model(idx[:, 19:], cache=cache)[0][:, -1].float()
    torch.testing.assert_close(fast, general, atol=0.05 * general.abs().max().item(), rtol=0)
    assert fast.argmax() == general.argmax()


def test_a_bfloat16_model_attends_over_a_float32_cache():
    """On a CPU gpt.generate keeps the cache in float32 under bfloat16 (or int8) weights: both forwards
    read it and give the weights' type back, close to the float32 model's logits."""
    model = scaled_model(1.0).eval()
    idx = torch.randint(300, (2, 20))
    with torch.no_grad():
        exact, _ = model(idx, idx)
        small = scaled_model(1.0).eval().to(torch.bfloat16)
        cache = KVCache(small, 2, torch.device("cpu"), torch.float32)
        prefill, _ = small(idx[:, :19], cache=cache)
        last = small.one_token_forward()(idx[:, 19:], cache)
    assert prefill.dtype == last.dtype == torch.bfloat16
    for logits, position in ((prefill[:, -1], 18), (last, 19)):
        torch.testing.assert_close(logits.float(), exact[:, position], atol=0.05 * exact.abs().max().item(), rtol=0)


def test_dropout_only_in_training_mode():
    torch.manual_seed(5)
    m = GPT(small(dropout=0.5))
    idx = torch.randint(300, (2, 16))
    m.train()
    a, _ = m(idx, idx)
    b, _ = m(idx, idx)
    assert not torch.allclose(a, b)
    m.eval()
    c, _ = m(idx, idx)
    d, _ = m(idx, idx)
    assert torch.equal(c, d)


def test_optimizer_decays_matrices_only(model):
    optimizer = model.optimizer(1e-3, 0.1, torch.device("cpu"))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    grouped = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    assert optimizer.param_groups[0]["lr"] == 1e-3


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(6)
    m = GPT(small())
    optimizer = m.optimizer(3e-3, 0.0, torch.device("cpu"))
    idx = torch.randint(300, (4, 32))
    first = None
    for _ in range(30):
        _, loss = m(idx[:, :-1], idx[:, 1:])
        first = first or loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first - 1.0


def test_estimates_grow_with_the_model():
    base = small()
    bigger = small(n_layer=4)
    assert training_flops_per_token(bigger) > training_flops_per_token(base) > 0
    assert estimate_training_memory(bigger) > estimate_training_memory(base) > 16 * count_parameters(base)
    assert estimate_training_memory(small(batch_size=32)) > estimate_training_memory(small(batch_size=16))
