"""Several processes training one model: PyTorch DistributedDataParallel under torchrun.

    torchrun --nproc_per_node=4 scripts/train_gpt.py ...

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; every process runs the same training loop on
its share of each batch, DDP averages the gradients, and rank 0 alone prepares data, samples,
writes checkpoints and prints. Without torchrun, `World` is a single process and every helper
here does nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1  # processes on this machine (they share its CPU cores)
    collective_device: str = "cpu"  # nccl reduces tensors on the GPU, gloo on the CPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The average of a tensor over all processes."""
        if self.enabled:
            value = value.detach().clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= self.size
        return value

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            value = value.detach().clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any (a stop request on one rank stops all)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.collective_device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


def join_world() -> World:
    """Join the process group torchrun described in the environment, once; a single process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = torch.cuda.is_available()
    world = World(int(os.environ["RANK"]), local_rank, size, int(os.environ.get("LOCAL_WORLD_SIZE", size)),
                  f"cuda:{local_rank}" if on_gpu else "cpu")
    if not dist.is_initialized():
        # nccl between GPUs; gloo between CPU processes.
        if on_gpu:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return world


def leave_world(finished_cleanly: bool = True) -> None:
    """Leave the process group. After a clean finish, wait for every process first: a gloo process
    that tore its group down while another still finished its last step was seen to abort
    ("terminate called without an active exception"). After an error, do not wait: others may be gone."""
    if dist.is_available() and dist.is_initialized():
        if finished_cleanly:
            dist.barrier()
        dist.destroy_process_group()
