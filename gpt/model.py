"""The GPT: a GPT-2-style decoder-only transformer, in the order data flows through it.

token + position embeddings -> n_layer pre-norm blocks (causal self-attention, GELU MLP,
each added back to the residual stream) -> final LayerNorm -> output head tied to the token
embedding. Shapes in comments: B batch, T time (tokens), C channels (n_embd), nh heads,
hs head size (C / nh), V vocabulary.

Attention goes through `scaled_dot_product_attention`, which picks the fastest kernel
(flash, memory-efficient or plain math) for the device. For generation, `forward` takes an
optional key/value cache (see `gpt.generate.KVCache`) so that each new token costs one
position of work instead of the whole window.

Dropout acts on the embeddings and on what each attention and MLP layer adds to the residual
stream, not on the attention probabilities: with dropout there no fused attention kernel runs on
a CPU, and attention took 3x as long (README: the validation bits per byte reached in the same
time were no worse without it).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import Config
from .dropout import Dropout, ResidualDropout
from .loss import chunked_cross_entropy


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: Config, layer_index: int):
        super().__init__()
        self.layer_index = layer_index
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(self.layer_index, k, v)  # (B, nh, past + T, hs)
            q = q.to(k.dtype)  # a cache may keep a wider type than the weights (see gpt.generate)
        total = k.size(2)
        if total == T:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif T == 1:
            # One new token attends to everything before it: no mask needed.
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            # Several new tokens after a cached past: causal among themselves, all of the past.
            mask = torch.ones(T, total, dtype=torch.bool, device=x.device).tril(diagonal=total - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C).to(x.dtype)  # heads side by side again
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.up = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.up(x)))  # exact GELU (erf), as Hugging Face's "gelu"


class Block(nn.Module):
    def __init__(self, cfg: Config, layer_index: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg, layer_index)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)
        self.attn_residual = ResidualDropout(cfg.dropout)
        self.mlp_residual = ResidualDropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        x = self.attn_residual(x, self.attn(self.ln_1(x), cache))  # x + dropout(attention(ln_1(x)))
        return self.mlp_residual(x, self.mlp(self.ln_2(x)))


class GPT(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.position_embedding = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.dropout = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        # Weight tying: reading a token and predicting it share one matrix (GPT-2; fewer parameters).
        self.lm_head.weight = self.token_embedding.weight
        self.apply(self._init_weights)
        # GPT-2 scales the layers that write into the residual stream by 1/sqrt(number of them),
        # so the stream's variance does not grow with depth.
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache=None, only_loss: bool = False):
        """Logits for every position and the mean cross-entropy when targets are given.

        Without targets only the last position's logits are computed: that is all sampling needs.
        With `only_loss` (training and evaluation) the logits are not returned, and on a CPU never
        held whole either (see gpt/loss.py): the same loss, and a default-recipe step took 4.7 s
        instead of 6.1 here.
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than block_size ({self.cfg.block_size})")
        positions = torch.arange(start, start + T, device=idx.device)
        x = self.dropout(self.token_embedding(idx) + self.position_embedding(positions))  # (B, T, C)
        for block in self.blocks:
            x = block(x, cache)
        if cache is not None:
            cache.advance(T)
        x = self.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, -1:, :]), None  # (B, 1, V)
        if only_loss and x.device.type == "cpu":
            # On GPUs the fused kernels of F.cross_entropy are left to do their work.
            return None, chunked_cross_entropy(x.reshape(B * T, -1), self.lm_head.weight, targets.reshape(-1))
        logits = self.lm_head(x)  # (B, T, V)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

    def one_token_forward(self) -> Callable[[torch.Tensor, "KVCache"], torch.Tensor]:
        """`forward` for one new token after a cached past, as a function: (idx (B, 1), cache) -> logits (B, V).

        The same computation as `forward` in evaluation mode, written out flat over tensors taken
        from the modules once: on a CPU one token's work is so small that calling ~70 modules and
        reshaping the general way took a third of the time (gpt.generate calls it for every token
        after the prompt). The GELU is the same function as F.gelu, written with erf in float32:
        F.gelu's fixed cost per call (about 30 us between other layers) was larger than its work at
        this size. A test checks that the two forwards agree, so a change to the blocks above
        belongs here too. It holds the tensors the modules have when it is made: gpt.generate makes
        one per text, after gpt.inference has replaced any layers.
        """
        C, nh, block_size = self.cfg.n_embd, self.cfg.n_head, self.cfg.block_size
        token_table, position_table = self.token_embedding.weight, self.position_embedding.weight
        layers = [(block.ln_1.weight, block.ln_1.bias, _as_function(block.attn.qkv), _as_function(block.attn.proj),
                   block.ln_2.weight, block.ln_2.bias, _as_function(block.mlp.up), _as_function(block.mlp.proj))
                  for block in self.blocks]
        ln_f_weight, ln_f_bias = self.ln_f.weight, self.ln_f.bias
        output_layer = _as_function(self.lm_head)

        def forward_one_token(idx: torch.Tensor, cache) -> torch.Tensor:
            B, position = idx.size(0), cache.length
            if position + 1 > block_size:
                raise ValueError(f"sequence of {position + 1} tokens is longer than block_size ({block_size})")
            # (B, C) throughout: with one token the time axis is only in the way.
            x = token_table[idx[:, 0]] + position_table[position]
            for layer, (ln_1_weight, ln_1_bias, qkv, proj, ln_2_weight, ln_2_bias, up, down) in enumerate(layers):
                h = F.layer_norm(x, (C,), ln_1_weight, ln_1_bias)
                q, k, v = qkv(h).view(B, 3, nh, 1, C // nh).unbind(1)  # (B, nh, 1, hs) each
                k, v = cache.update(layer, k, v)
                y = F.scaled_dot_product_attention(q.to(k.dtype), k, v)  # (B, nh, 1, hs): one query, no mask
                x = x + proj(y.reshape(B, C).to(x.dtype))
                x = x + down(_exact_gelu(up(F.layer_norm(x, (C,), ln_2_weight, ln_2_bias))))
            cache.advance(1)
            return output_layer(F.layer_norm(x, (C,), ln_f_weight, ln_f_bias))

        return forward_one_token

    def num_parameters(self) -> int:
        """Trainable parameters, the tied embedding counted once."""
        return sum(p.numel() for p in self.parameters())

    def optimizer(self, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
        """AdamW that decays matrices only (not biases or LayerNorm gains), fused where supported."""
        decay = [p for p in self.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, fused=device.type in ("cuda", "cpu") or None)


def _as_function(linear: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A linear layer's computation on (B, in) rows as a plain function (a module may offer a faster one)."""
    if hasattr(linear, "as_function"):
        return linear.as_function()
    weight, bias = linear.weight, linear.bias
    return lambda x: F.linear(x, weight, bias)


def _exact_gelu(x: torch.Tensor) -> torch.Tensor:
    """x * Phi(x), computed in float32 and returned in x's type."""
    f = x.float()
    return (f * (torch.erf(f * _SQRT_HALF) + 1).mul_(0.5)).to(x.dtype)


_SQRT_HALF = math.sqrt(0.5)


def count_parameters(cfg: Config) -> int:
    """Parameter count of a config without building the model."""
    C, L, V = cfg.n_embd, cfg.n_layer, cfg.vocab_size
    per_block = (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C) + 4 * C
    return V * C + cfg.block_size * C + L * per_block + 2 * C


def training_flops_per_token(cfg: Config) -> float:
    """Forward + backward FLOPs per token: 6 per parameter plus attention's score matmuls (PaLM, appendix B)."""
    matmul_parameters = count_parameters(cfg) - cfg.block_size * cfg.n_embd
    return 6 * matmul_parameters + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size


def estimate_training_memory(cfg: Config, bytes_per_value: int = 4) -> int:
    """Rough peak bytes of one training step: weights, gradients, AdamW's two moments, activations.

    Activations follow Korthikanti et al. (2022): about 34 values per token and channel per layer
    plus 5 per attention score, and the logits with their softmax and gradient.
    """
    B, T, C, L, V = cfg.batch_size, cfg.block_size, cfg.n_embd, cfg.n_layer, cfg.vocab_size
    weights_and_optimizer = 4 * count_parameters(cfg) * 4  # float32 weights, grads, exp_avg, exp_avg_sq
    activations = L * (34 * B * T * C + 5 * cfg.n_head * B * T * T) * bytes_per_value // 2
    logits = 3 * B * T * V * 4
    return weights_and_optimizer + activations + logits
