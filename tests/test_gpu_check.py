"""scripts/gpu_check.py, run on the CPU with tiny sizes: every check it makes on a GPU works here too."""

from __future__ import annotations

import json

from test_cli import run_script


def test_the_gpu_check_runs_every_check_and_prints_one_json_line(tmp_path):
    result = run_script("gpu_check.py", "--device", "cpu", "--quick", cwd=tmp_path, timeout=300)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(lines[0])
    assert set(report["checks"]) == {"prepare_data", "train_bfloat16", "train_float16", "compile_auto", "sample",
                                     "torchrun_1_gpu", "bench"}
    failed = {name: check for name, check in report["checks"].items() if not check["ok"]}
    assert not failed and report["ok"] and result.returncode == 0, failed
    assert report["checks"]["train_float16"]["learned"] and report["checks"]["train_bfloat16"]["samples"]
    assert set(report["bench"]["modes"]) == {"bf16", "auto"}
    # bench.py names the CPU's features and why auto chose its type.
    assert "avx2 " in report["bench"]["cpu_features"] and " amx " in report["bench"]["cpu_features"]
    assert report["bench"]["auto_dtype"] in ("float32", "bfloat16") and report["bench"]["auto_dtype_reason"]
    # The type auto picks runs below its measured peak. A bfloat16 "peak" means little on a CPU without
    # native bfloat16 (a tiny model's small matmuls beat one square matmul there), so only its sign.
    assert 0 < report["bench"]["modes"]["auto"]["mfu"] < 1
    assert report["bench"]["modes"]["bf16"]["mfu"] > 0
