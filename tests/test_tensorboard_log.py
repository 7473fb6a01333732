"""The TensorBoard log of a run, read back with TensorBoard's own event reader."""

from __future__ import annotations

import threading
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import run_training
from gpt.cli.train import main as train_main
from gpt.train import Evaluated, Sampled, Started, StepDone, train

SCALARS = ("train/loss", "train/lr", "train/tokens_per_second", "train/grad_norm", "eval/train_loss",
           "eval/val_loss", "eval/val_bpb")


def read_log(folder: Path) -> EventAccumulator:
    log = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    log.Reload()
    return log


def steps_of(log: EventAccumulator, tag: str) -> list[int]:
    return [event.step for event in log.Scalars(tag)]


def log_folder_of(cfg) -> Path:
    return Path(cfg.out_dir) / cfg.run_name / "tensorboard" if cfg.run_name else Path(cfg.out_dir) / "tensorboard"


def test_a_run_logs_every_scalar_its_samples_and_its_config(cfg):
    cfg = cfg.replace(max_steps=20, eval_interval=10, log_interval=5, sample_every_eval=True, grad_clip=0.5)
    events = run_training(cfg)
    log = read_log(log_folder_of(cfg))
    assert set(SCALARS) <= set(log.Tags()["scalars"])
    steps_done = [e for e in events if isinstance(e, StepDone)]
    evaluations = [e for e in events if isinstance(e, Evaluated)]
    assert steps_of(log, "train/loss") == [e.step for e in steps_done] == [5, 10, 15, 20]
    assert [round(s.value, 5) for s in log.Scalars("train/loss")] == [round(e.loss, 5) for e in steps_done]
    assert [round(s.value, 5) for s in log.Scalars("eval/val_loss")] == [round(e.val_loss, 5) for e in evaluations]
    # The norm is measured before clipping, so it can exceed the clip threshold.
    assert all(s.value > 0 for s in log.Scalars("train/grad_norm"))
    assert steps_of(log, "eval/val_bpb") == [0, 10, 20]  # step 0: before any update
    samples = {e.step: e.text for e in events if isinstance(e, Sampled)}
    texts = {t.step: t.tensor_proto.string_val[0].decode("utf-8") for t in log.Tensors("sample/text_summary")}
    assert sorted(texts) == sorted(samples) == [0, 10, 20]
    assert samples[20].splitlines()[0].strip() in texts[20]
    config = log.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode("utf-8")
    assert "| n_embd | `32` |" in config and "| grad_clip | `0.5` |" in config
    assert "_hparams_/session_start_info" in log.summary_metadata


def test_stop_and_resume_append_to_the_same_log_and_each_step_is_there_once(cfg):
    cfg = cfg.replace(max_steps=30, eval_interval=10, log_interval=1)
    stop = threading.Event()
    first = []
    for event in train(cfg, stop):
        first.append(event)
        if isinstance(event, StepDone) and event.step == 13:
            stop.set()
    assert first[-1].reason == "stopped" and first[-1].step == 13
    second = run_training(cfg)
    assert second[-1].reason == "done"
    log = read_log(log_folder_of(cfg))
    assert steps_of(log, "train/loss") == list(range(1, 31))
    assert steps_of(log, "eval/val_loss") == [0, 10, 20, 30]
    assert len(log.Tensors("config/text_summary")) == 1


def test_steps_logged_after_the_last_checkpoint_of_a_killed_run_are_read_once(cfg):
    """A run that dies between two saves has logged steps its checkpoint does not have; they are redone."""
    cfg = cfg.replace(max_steps=20, eval_interval=10, log_interval=1)
    events = train(cfg)
    for event in events:
        if isinstance(event, StepDone) and event.step == 16:
            break  # the checkpoint is at step 10; steps 11-16 are in the log
    events.close()
    run_training(cfg)
    log = read_log(log_folder_of(cfg))
    assert steps_of(log, "train/loss") == list(range(1, 21))


def test_a_fresh_start_moves_the_old_log_aside(cfg):
    cfg = cfg.replace(max_steps=10, eval_interval=10, log_interval=5)
    run_training(cfg)
    run_training(cfg, fresh=True)
    folder = log_folder_of(cfg)
    archived = [p for p in folder.parent.iterdir() if p.name.startswith("tensorboard-")]
    assert len(archived) == 1 and steps_of(read_log(archived[0]), "train/loss") == [5, 10]
    assert steps_of(read_log(folder), "train/loss") == [5, 10]


def test_tensorboard_off_writes_no_log(cfg, capsys):
    cfg = cfg.replace(max_steps=10, eval_interval=10, run_name="quiet")
    args = ["--max_steps", "10", "--eval_interval", "10", "--run_name", "quiet", "--tensorboard", "off"]
    for name in ("train_bin", "val_bin", "tok_path", "out_dir", "block_size", "n_layer", "n_head", "n_embd",
                 "batch_size", "eval_iters", "device", "dtype"):
        args += [f"--{name}", str(getattr(cfg, name))]
    assert train_main(args) == 0
    assert (Path(cfg.out_dir) / "quiet" / "ckpt.pt").is_file()
    assert not log_folder_of(cfg).exists()


def test_a_log_that_cannot_be_written_is_advice_and_training_goes_on(cfg):
    from gpt.train import Advice

    cfg = cfg.replace(max_steps=10, eval_interval=10)
    folder = log_folder_of(cfg)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the log folder should be")
    events = run_training(cfg)
    assert events[-1].reason == "done"
    advice = [e for e in events if isinstance(e, Advice) and e.kind == "log_failed"]
    assert len(advice) == 1 and str(folder) in advice[0].message
    started = next(i for i, event in enumerate(events) if isinstance(event, Started))
    assert events[started + 1] is advice[0], "said right after Started, which every consumer expects first"


def test_the_cli_says_a_log_cannot_be_written_and_trains_on(cfg, capsys):
    """torch's GPU images lack tensorboardX, say: the CLI printed nothing but a traceback there."""
    folder = log_folder_of(cfg)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the log folder should be")
    args = ["--max_steps", "10", "--eval_interval", "10"]
    for name in ("train_bin", "val_bin", "tok_path", "out_dir", "block_size", "n_layer", "n_head", "n_embd",
                 "batch_size", "eval_iters", "device", "dtype"):
        args += [f"--{name}", str(getattr(cfg, name))]
    assert train_main(args) == 0
    printed = capsys.readouterr().out
    assert f"advice: the TensorBoard log in {folder} cannot be written" in printed, printed
    assert "reached max_steps (10)" in printed and (Path(cfg.out_dir) / "ckpt.pt").is_file()
