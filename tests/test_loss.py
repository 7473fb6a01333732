"""The chunked cross-entropy: the same loss and gradients as F.cross_entropy, without the full logits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gpt.loss
from gpt.config import Config
from gpt.loss import chunked_cross_entropy
from gpt.model import GPT


def reference(hidden, weight, targets):
    """Loss and gradients the plain way: the whole logits tensor."""
    hidden = hidden.detach().clone().requires_grad_()
    weight = weight.detach().clone().requires_grad_()
    loss = F.cross_entropy(hidden @ weight.t(), targets)
    loss.backward()
    return loss.detach(), hidden.grad, weight.grad


def chunked(hidden, weight, targets):
    hidden = hidden.detach().clone().requires_grad_()
    weight = weight.detach().clone().requires_grad_()
    loss = chunked_cross_entropy(hidden, weight, targets)
    loss.backward()
    return loss.detach(), hidden.grad, weight.grad


@pytest.fixture(params=["one group", "groups"])
def small_chunks(monkeypatch, request):
    """Chunks of 7 rows for a vocabulary of 500: many chunks and a shorter last one; with "groups",
    a gradient buffer of 3 chunks, so the weight's gradient is summed over groups (a shorter last one too)."""
    monkeypatch.setattr(gpt.loss, "LOGITS_PER_CHUNK", 7 * 500)
    if request.param == "groups":
        monkeypatch.setattr(gpt.loss, "GRADIENT_BUFFER_BYTES", 3 * 7 * 500 * 8)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_loss_and_gradients_equal_the_plain_cross_entropy(small_chunks, dtype):
    torch.manual_seed(0)
    hidden, weight = torch.randn(100, 16, dtype=dtype), 0.3 * torch.randn(500, 16, dtype=dtype)
    targets = torch.randint(500, (100,))
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    for expected, actual in zip(reference(hidden, weight, targets), chunked(hidden, weight, targets)):
        assert actual.dtype == dtype
        torch.testing.assert_close(actual, expected, rtol=tolerance, atol=tolerance)


def test_gradient_scales_with_the_upstream_gradient(small_chunks):
    torch.manual_seed(1)
    hidden = torch.randn(30, 8, requires_grad=True)
    weight = torch.randn(500, 8, requires_grad=True)
    targets = torch.randint(500, (30,))
    (3.0 * chunked_cross_entropy(hidden, weight, targets)).backward()
    _, hidden_grad, weight_grad = reference(hidden, weight, targets)
    torch.testing.assert_close(hidden.grad, 3.0 * hidden_grad)
    torch.testing.assert_close(weight.grad, 3.0 * weight_grad)


def test_without_gradients_only_the_loss_is_computed(small_chunks):
    torch.manual_seed(2)
    hidden, weight, targets = torch.randn(20, 8), torch.randn(500, 8), torch.randint(500, (20,))
    with torch.no_grad():
        loss = chunked_cross_entropy(hidden, weight, targets)
    torch.testing.assert_close(loss, F.cross_entropy(hidden @ weight.t(), targets))
    assert not loss.requires_grad


def test_under_bfloat16_autocast_the_loss_stays_close_and_gradients_float32(small_chunks):
    torch.manual_seed(3)
    hidden, weight = torch.randn(50, 32), 0.2 * torch.randn(500, 32)
    targets = torch.randint(500, (50,))
    expected = reference(hidden, weight, targets)
    hidden, weight = hidden.requires_grad_(), weight.requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = chunked_cross_entropy(hidden, weight, targets)
    loss.backward()
    assert loss.dtype == torch.float32 and hidden.grad.dtype == weight.grad.dtype == torch.float32
    torch.testing.assert_close(loss.detach(), expected[0], rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(hidden.grad, expected[1], rtol=5e-2, atol=5e-3)


def test_the_model_gives_the_same_loss_and_gradients_with_only_loss(small_chunks):
    """Training's path (only_loss, chunked on a CPU) against the path that returns the logits."""
    torch.manual_seed(4)
    cfg = Config(vocab_size=500, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    model = GPT(cfg)
    idx, targets = torch.randint(500, (3, 16)), torch.randint(500, (3, 16))
    logits, plain = model(idx, targets)
    assert logits.shape == (3, 16, 500)
    plain.backward()
    plain_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    nothing, fast = model(idx, targets, only_loss=True)
    assert nothing is None
    fast.backward()
    torch.testing.assert_close(fast, plain)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, plain_grads[name], msg=name)
