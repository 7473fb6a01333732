"""The CPU dropout: the right share of elements kept and scaled, exact gradients, reproducible masks."""

from __future__ import annotations

import pytest
import torch

from gpt.dropout import Dropout, ResidualDropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_the_mask_keeps_one_minus_p_of_the_elements(p):
    torch.manual_seed(0)
    kept = keep_mask(torch.Size([1000, 1000]), p, torch.device("cpu")).float().mean().item()
    assert kept == pytest.approx(1 - p, abs=0.002)  # 1e6 coins: the standard error is 0.0005


def test_the_mask_is_not_the_same_pattern_in_every_group_of_four():
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400000]), 0.5, torch.device("cpu")).view(-1, 4).float()
    # Each of the four 16-bit parts of a random word is its own fair coin, and they are independent.
    assert mask.mean(0).tolist() == pytest.approx([0.5] * 4, abs=0.01)
    assert (mask[:, 0] * mask[:, 3]).mean().item() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_residual_dropout_adds_the_kept_part_scaled_and_its_gradient_matches(dtype):
    torch.manual_seed(1)
    residual = torch.randn(64, 48, requires_grad=True)
    # No update element may be 0, or a kept one would look dropped below (torch 2.11 draws bfloat16
    # zeros from randn: 18 of these 3,072).
    update = (torch.randn(64, 48).sign() * (torch.rand(64, 48) + 0.5)).to(dtype).requires_grad_()
    layer = ResidualDropout(0.25).train()
    out = layer(residual, update)
    added = (out - residual).detach()
    kept = added != 0
    assert kept.float().mean().item() == pytest.approx(0.75, abs=0.03)
    assert torch.allclose(added[kept], (update.detach().float() / 0.75)[kept], rtol=1e-2)
    out.sum().backward()
    assert torch.equal(residual.grad, torch.ones_like(residual))
    assert update.grad.dtype == dtype
    assert torch.allclose(update.grad.float(), kept.float() / 0.75, rtol=1e-2)


@pytest.mark.parametrize("p", [0.1, 0.25])
def test_a_bfloat16_update_is_scaled_by_one_over_one_minus_p_exactly_not_by_its_bfloat16_rounding(p):
    # 1 / 0.9 in bfloat16 is 1.109375: kept elements would all come out 0.16% too small.
    torch.manual_seed(2)
    update = torch.randn(256, 64).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ResidualDropout(p).train()(torch.zeros(256, 64), update)
    assert out.dtype == torch.float32
    kept = out != 0
    assert torch.allclose(out[kept], update.float()[kept] / (1 - p), rtol=1e-6, atol=0)
    assert torch.equal(out[~kept], torch.zeros_like(out[~kept]))


def test_dropout_is_reproducible_with_a_seed_and_off_in_eval_mode():
    x = torch.randn(32, 32)
    layer = Dropout(0.1).train()
    torch.manual_seed(5)
    first = layer(x)
    torch.manual_seed(5)
    assert torch.equal(first, layer(x))
    assert not torch.equal(first, x)
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(ResidualDropout(0.1).eval()(x, x), 2 * x)
