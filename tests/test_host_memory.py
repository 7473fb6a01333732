"""Freed memory is reused by the next step instead of coming back from the kernel as new pages."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

import gpt.loss
import gpt.train
from gpt import host_memory
from gpt.train import Finished

glibc_only = pytest.mark.skipif(not host_memory.on_glibc(),
                                reason="the thresholds are glibc's; other C libraries are left alone")

# A 64 MB tensor written, freed and made again, as a training step does with its activations.
FAULTS_PER_ROUND = """
import json, resource, sys, torch
from gpt.host_memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.empty(16 << 20).fill_(1.0)
faults = []
for _ in range(7):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(16 << 20).fill_(1.0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"kept": kept, "faults": faults}))
"""


def page_faults(mode: str, **environment) -> dict:
    env = {name: value for name, value in os.environ.items() if name not in host_memory.USER_SETTINGS}
    env.pop("GLIBC_TUNABLES", None)
    result = subprocess.run([sys.executable, "-c", FAULTS_PER_ROUND, mode], capture_output=True, text=True,
                            env={**env, **environment}, check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    return json.loads(result.stdout)


@glibc_only
def test_a_large_tensor_made_again_after_it_is_freed_reuses_its_pages():
    plain = page_faults("plain")
    kept = page_faults("keep")
    assert min(plain["faults"]) > 10_000, plain  # 64 MB of fresh 4 KB pages each time
    # Now and then one round lands beside the freed block (a small allocation split it) and faults once.
    assert kept["kept"] is True and statistics.median(kept["faults"]) < 100, (plain, kept)


@glibc_only
def test_a_users_own_malloc_settings_are_left_alone():
    assert page_faults("keep", MALLOC_TRIM_THRESHOLD_="131072")["kept"] is False
    assert page_faults("keep", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")["kept"] is False


RSS_AFTER_FREE_AND_RELEASE = """
import json, torch
from gpt.host_memory import keep_freed_memory, release_freed_memory
def rss_mb():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) // 1024
keep_freed_memory()
start = rss_mb()
tensors = [torch.empty(16 << 20).fill_(1.0) for _ in range(4)]  # 256 MB
del tensors
freed = rss_mb()
released = release_freed_memory()
print(json.dumps({"start": start, "freed": freed, "released": released, "after": rss_mb()}))
"""


@glibc_only
def test_memory_kept_while_training_goes_back_to_the_system_when_the_run_ends():
    result = subprocess.run([sys.executable, "-c", RSS_AFTER_FREE_AND_RELEASE], capture_output=True, text=True,
                            check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    sizes = json.loads(result.stdout)
    assert sizes["freed"] - sizes["start"] > 200, sizes  # kept by the process for the next step
    assert sizes["released"] is True and sizes["freed"] - sizes["after"] > 200, sizes


def test_a_run_gives_its_memory_back_once_it_has_ended(cfg, monkeypatch):
    ended_when_released, buffers_while_training = [], set()
    monkeypatch.setattr(gpt.train, "release_freed_memory", lambda: ended_when_released.append(len(events)))
    events = []
    for event in gpt.train.train(cfg):
        events.append(event)
        buffers_while_training |= set(gpt.loss._workspace.buffers)
    assert isinstance(events[-1], Finished) and ended_when_released == [len(events)]
    assert "logits" in buffers_while_training and not gpt.loss._workspace.buffers  # the loss's buffers went too
