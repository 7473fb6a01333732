"""The training loss without the full logits tensor: cross-entropy of the output layer, a chunk of rows at a time.

At the default recipe the logits of one batch are 4096 positions x 24000 tokens = 393 MB of
float32, and a plain `F.cross_entropy(hidden @ weight.T, targets)` makes several tensors that
size each step (logits, log-softmax, their gradients). On a CPU each one is fresh memory from the
operating system, paid for in page faults: 450,000 of them and 3 s of system time per 6 s step.

`chunked_cross_entropy` computes the same mean loss a few hundred rows at a time, and the
backward pass of the output layer with it: the gradient of cross-entropy with respect to the
logits is softmax(logits) - one_hot(target), known as soon as a chunk's logits are.
- Each chunk's gradient gives its rows of the hidden states' gradient at once (rows are independent).
- The weight's gradient sums over all rows. Summing it chunk by chunk costs a pass over the whole
  (vocab x n_embd) matrix per chunk, which in bfloat16 cost more than the matmuls. So the chunks'
  logit gradients are kept, in the compute type, in one reusable buffer, and multiplied into the
  weight's gradient once per buffer-full (once per step at the default recipe).
Only the two gradients are kept for the backward pass.
"""

from __future__ import annotations

import threading

import torch

# About 4M logits per chunk (16 MB in float32): big enough for efficient matmuls; measured faster
# than 1M or 2M on an AMX CPU.
LOGITS_PER_CHUNK = 1 << 22
# The buffer of logit gradients: rows beyond it are summed into the weight's gradient in groups.
GRADIENT_BUFFER_BYTES = 256 << 20


class _Workspace(threading.local):
    """Buffers kept between steps, one set per thread. Fresh tensors of this size every chunk and step
    are fresh pages from the operating system each time (page faults), which chunking exists to avoid;
    reused ones also stay in the cache."""

    def __init__(self):
        self.buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, rows: int, columns: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        needed = rows * columns
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < needed or buffer.dtype != dtype or buffer.device != device:
            self.buffers.pop(name, None)  # let the old one go before taking a new one
            self.buffers[name] = buffer = torch.empty(needed, dtype=dtype, device=device)
        return buffer[:needed].view(rows, columns)


_workspace = _Workspace()


def free_workspace() -> None:
    """Let this thread's buffers go, at the end of a run: the app lives on, and the next run may need other sizes."""
    _workspace.buffers.clear()


class ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        device_type = hidden.device.type
        # Autocast is turned off inside: the matmuls use its type explicitly, sums stay float32.
        compute_dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
        needs_gradient = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        rows, vocab_size = hidden.size(0), weight.size(0)
        rows_per_chunk = max(1, LOGITS_PER_CHUNK // vocab_size)
        sum_dtype = torch.promote_types(compute_dtype, torch.float32)  # bfloat16 logits are summed in float32
        with torch.autocast(device_type, enabled=False):
            weight_c = weight.to(compute_dtype)
            hidden_c = hidden.to(compute_dtype)
            total = torch.zeros((), device=hidden.device, dtype=sum_dtype)
            minus_one = torch.full((1,), -1.0, dtype=compute_dtype, device=hidden.device)
            if needs_gradient:
                grad_hidden = torch.empty_like(hidden)
                hidden_t = hidden_c.t().contiguous()  # (C, N)
                item_bytes = torch.empty((), dtype=compute_dtype).element_size()
                rows_per_group = max(rows_per_chunk, GRADIENT_BUFFER_BYTES // (vocab_size * item_bytes))
                rows_per_group = min(rows, rows_per_group // rows_per_chunk * rows_per_chunk)
                gradients = _workspace.take("gradients", rows_per_group, vocab_size, compute_dtype, hidden.device)
            else:
                rows_per_group = rows
            logits_buffer = _workspace.take("logits", rows_per_chunk, vocab_size, compute_dtype, hidden.device)
            # Logits in a smaller type are normalised in float32, in a buffer of their own.
            exponentials_buffer = (None if compute_dtype == sum_dtype else
                                   _workspace.take("exponentials", rows_per_chunk, vocab_size, sum_dtype, hidden.device))
            grad_weight_t = None
            for group_start in range(0, rows, rows_per_group):
                group_end = min(rows, group_start + rows_per_group)
                for start in range(group_start, group_end, rows_per_chunk):
                    end = min(group_end, start + rows_per_chunk)
                    n = end - start
                    chunk_targets = targets[start:end]
                    logits = torch.mm(hidden_c[start:end], weight_c.t(), out=logits_buffer[:n])  # (n, V)
                    # Log-sum-exp by hand, in place in reused buffers: torch.logsumexp (and any op whose
                    # output type differs from its input's) makes temporaries, and took twice as long.
                    exponentials = logits if exponentials_buffer is None else exponentials_buffer[:n].copy_(logits)
                    highest = exponentials.amax(dim=-1, keepdim=True)
                    target_logits = exponentials.gather(1, chunk_targets[:, None])
                    exponentials.sub_(highest).exp_()
                    sums = exponentials.sum(dim=-1, keepdim=True)
                    total += (highest + sums.log() - target_logits).sum()
                    if not needs_gradient:
                        continue
                    # d(loss)/d(logits) = softmax - one_hot, stored in the buffer in the compute type.
                    chunk_gradient = gradients[start - group_start:end - group_start]
                    chunk_gradient.copy_(exponentials.mul_(sums.reciprocal_()))
                    at_targets = torch.arange(n, device=hidden.device) * vocab_size + chunk_targets
                    chunk_gradient.view(-1).index_put_((at_targets,), minus_one.expand(n), accumulate=True)
                if needs_gradient:
                    group_gradients = gradients[:group_end - group_start]
                    # One matmul per group for each gradient: faster than one per chunk.
                    grad_hidden[group_start:group_end] = group_gradients @ weight_c
                    # (C, n) @ (n, V): both operands untransposed in memory, the fast layout for the matmul.
                    partial = hidden_t[:, group_start:group_end] @ group_gradients
                    grad_weight_t = partial if grad_weight_t is None else grad_weight_t.to(sum_dtype).add_(partial)
        if needs_gradient:
            ctx.save_for_backward(grad_hidden, grad_weight_t)
        ctx.rows, ctx.weight_dtype = rows, weight.dtype
        return total / rows

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_hidden, grad_weight_t = ctx.saved_tensors
        scale = grad_output / ctx.rows
        grad_weight = None
        if ctx.needs_input_grad[1]:
            # One pass: scaled, cast and written back in the weight's own (vocab, n_embd) layout.
            grad_weight = torch.empty(grad_weight_t.t().shape, dtype=ctx.weight_dtype, device=grad_weight_t.device)
            torch.mul(grad_weight_t.t(), scale, out=grad_weight)
        return (grad_hidden * scale.to(grad_hidden.dtype) if ctx.needs_input_grad[0] else None, grad_weight, None)


@torch.compiler.disable  # plain matmuls and reductions already; tracing its buffers would only cost compile time
def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` (hidden (N, C), weight (V, C)) against targets (N,)."""
    return ChunkedCrossEntropy.apply(hidden, weight, targets)
