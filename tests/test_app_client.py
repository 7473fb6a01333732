"""The real app served in-process and driven through its API with `gradio_client`.

One server for the module, on a free port, with its own temporary storage holding the small
prepared dataset of conftest.py (so nothing is generated and nothing touches the repository).
The tests run in file order and share the server's one training job; each leaves it idle.
"""

from __future__ import annotations

import json
import os
import time

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from conftest import DATA_FILES, TEST_VOCAB_SIZE, launched_app, make_text, step_of, wait_for  # noqa: E402

OWNER = "client-a"
OTHER = "client-b"


def train_args(**changes) -> dict:
    values = dict(block_size=32, n_layer=1, n_head=2, n_embd=32, dropout=0.0, batch_size=4, lr=1e-3, max_steps=200,
                  grad_clip=1.0, lr_schedule="constant", eval_interval=100, eval_iters=2, sample_every_eval=True,
                  sample_prompt="", sample_max_new_tokens=12, temperature=0.9, top_k=50, device="cpu", dtype="float32",
                  run_name="", tensorboard=True, vocab_size=TEST_VOCAB_SIZE,
                  resume_mode="ask", owner=OWNER)
    values.update(changes)
    return values


def plot_traces(output) -> dict:
    assert output["type"] == "plotly"
    figure = json.loads(output["plot"])
    return {trace["name"]: trace for trace in figure["data"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory, prepared):
    """(TrainerApp, url) of the app launched in this process."""
    with launched_app(tmp_path_factory.mktemp("client_app"), prepared) as launched:
        yield launched


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[1], verbose=False)


@pytest.fixture(scope="module")
def other_client(server):
    from gradio_client import Client

    return Client(server[1], verbose=False)


@pytest.fixture
def idle(server):
    """The server's job is idle before and after the test."""
    trainer, _ = server
    assert not trainer.job.snapshot().active
    yield trainer
    state = trainer.job.snapshot()
    if state.active:
        trainer.job.stop(state.owner)
        assert trainer.job.wait(30)
        pytest.fail(f"the test left a run going: {state.status}")


def last_sent(outputs: list, index: int):
    """What a page shows for one output of a stream: its last value sent (an unchanged one is skipped,
    so the final message may carry a skip for it)."""
    values = [output[index] for output in outputs if not (isinstance(output[index], dict) and "__type__" in output[index])]
    assert values, f"output {index} was never sent"
    return values[-1]


def test_the_api_names_its_parameters_after_the_config(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/train", "/stop", "/sample", "/prepare_data", "/inspect", "/score", "/runs"} <= set(endpoints)
    train_parameters = [p["parameter_name"] for p in endpoints["/train"]["parameters"]]
    assert train_parameters == list(train_args())
    assert [p["parameter_name"] for p in endpoints["/stop"]["parameters"]] == ["owner"]


def test_train_streams_step_progress_until_done(client, idle):
    started = time.monotonic()
    job = client.submit(**train_args(max_steps=200, eval_interval=100), api_name="/train")
    outputs = list(job)  # every streamed update, until the run ends
    assert time.monotonic() - started < 40
    assert job.status().success
    assert len(outputs) >= 2, [o[0] for o in outputs]
    for output in outputs:
        # status, progress, sample, log, the plot's marker, 21 controls (tensorboard last), preset, vocab_size,
        # run picker, the step slider and its sample, the Sample tab's saved-checkpoint marker (the plot: /plot)
        assert len(output) == 32

    statuses = [output[0] for output in outputs]
    running_steps = [step for step in map(step_of, statuses) if step is not None]
    assert running_steps, statuses
    assert running_steps == sorted(running_steps)
    assert statuses[-1].startswith("Done: reached max_steps (200). Checkpoint: `"), statuses[-1]
    progress = outputs[-1][1]
    assert 'value="1.0000"' in progress and "step 200 / 200" in progress

    # The plot streams on its own (/plot); once the run is over it is the finished run's, once.
    traces = plot_traces(client.predict(api_name="/plot"))
    assert set(traces) == {"train loss (batch)", "train loss (eval)", "val loss"}
    assert traces["train loss (batch)"]["x"][-1] == 200 and len(traces["train loss (batch)"]["x"]) == 20
    assert traces["val loss"]["x"] == [0, 100, 200]  # step 0: before any update
    assert last_sent(outputs, 2).startswith("[step 200]\n")
    assert "reached max_steps (200)" in outputs[-1][3]

    # While the run is active the controls are locked and show the running config; then unlocked.
    first_locks = outputs[0][5:-4]
    assert all(lock.get("interactive") is False for lock in first_locks)
    assert [lock.get("value") for lock in first_locks[:4]] == [32, 1, 2, 32]
    assert all(lock.get("interactive") is True for lock in outputs[-1][5:-4])
    # The Sample tab's run picker learns of the run's first checkpoint while it trains.
    assert {"__type__": "update", "choices": [["(default)", ""]]} in [output[-4] for output in outputs]
    # The samples by step follow the run: the slider ends at the last evaluation, showing its sample.
    slider, sample = [output[-3:-1] for output in outputs if isinstance(output[-3], dict)][-1]
    assert slider["maximum"] == 200 and slider["value"] == 200 and sample.startswith("step 200 · val loss")
    # Each save is announced to the Sample tab once.
    markers = [output[-1] for output in outputs if isinstance(output[-1], str) and output[-1]]
    assert markers and markers[-1].endswith("ckpt.pt@200") and len(markers) == len(set(markers))
    assert idle.job.snapshot().step == 200


def test_stop_needs_the_owner(client, other_client, idle):
    job = client.submit(**train_args(max_steps=20000, eval_interval=5000, resume_mode="fresh"), api_name="/train")
    wait_for(lambda: any((step_of(o[0]) or 0) > 0 for o in job.outputs()), 30, "a step reported to the client")

    assert other_client.predict(owner=OTHER, api_name="/stop") == \
        "Only the visitor who started this run can stop it."
    assert client.predict(owner="", api_name="/stop") == "Only the visitor who started this run can stop it."
    time.sleep(0.3)
    assert idle.job.snapshot().status == "running"
    assert not job.done()

    asked = time.monotonic()
    assert client.predict(owner=OWNER, api_name="/stop") == \
        "Stopping after the current step; a checkpoint will be saved."
    wait_for(job.done, 15, "the /train stream ending after Stop")
    assert time.monotonic() - asked < 10
    final = job.outputs()[-1][0]
    assert final.startswith("Stopped at step ") and "checkpoint saved to `" in final, final
    state = idle.job.snapshot()
    assert state.finish_reason == "stopped" and 0 < state.step < 20000
    assert f"Stopped at step {state.step:,};" in final
    assert client.predict(owner=OWNER, api_name="/stop") == "No training run is in progress."


def ensure_checkpoint(trainer) -> None:
    """Train briefly (directly, not through the API) when an earlier test did not leave a checkpoint."""
    if not trainer.storage.run().checkpoint.is_file():
        values = {name: value for name, value in train_args(max_steps=20, eval_interval=10).items()
                  if name not in ("vocab_size", "resume_mode", "owner")}
        assert trainer.start_training(values, TEST_VOCAB_SIZE, "ask", OWNER, "en") is None
        assert trainer.job.wait(60)
    assert trainer.storage.run().checkpoint.is_file()


def test_sample_returns_text(client, idle):
    ensure_checkpoint(idle)
    text, note = client.predict("채용 공고", 0.9, 50, 1.0, 40, 7, api_name="/sample")
    assert text.startswith("채용 공고") and len(text) > len("채용 공고") + 5
    assert note == ""
    again, _ = client.predict("채용 공고", 0.9, 50, 1.0, 40, 7, api_name="/sample")
    assert again == text  # the seed fixes the text
    # The slider allows top_k up to 1000, above this data's vocabulary of 600: a note says so.
    text, note = client.predict("", 0.9, 1000, 1.0, 20, 1, api_name="/sample")
    assert text.strip()
    assert f"top_k 1000 is larger than the vocabulary ({TEST_VOCAB_SIZE:,})" in note
    # Values outside the sliders' ranges are refused by the server before the handler runs.
    with pytest.raises(Exception):
        client.predict("hi", -1.0, 50, 1.0, 20, 1, api_name="/sample")


def test_two_clients_one_trains_the_other_is_refused_and_can_sample(client, other_client, idle):
    ensure_checkpoint(idle)
    # Resume the checkpoint (same architecture), so there is a model to sample from meanwhile.
    training = client.submit(**train_args(max_steps=20000, eval_interval=5000, resume_mode="ask"),
                             api_name="/train")
    # Wait on the first client's own stream (the job's state may still be the previous run's).
    wait_for(lambda: any((step_of(o[0]) or 0) >= 10 for o in training.outputs()), 30, "the first client's run")
    assert idle.job.snapshot().status == "running"
    first_step = idle.job.snapshot().step

    # The second client's Train is refused at once, with one message, and its stream ends.
    asked = time.monotonic()
    refused = other_client.submit(**train_args(owner=OTHER, max_steps=500), api_name="/train")
    first = wait_for(lambda: refused.outputs(), 10, "the refusal")[0]
    assert time.monotonic() - asked < 5
    assert first[0] == "A training run is already in progress; only one runs at a time.", first[0]
    wait_for(lambda: refused.done(), 10, "the refused stream to end")
    assert len(refused.outputs()) == 1
    assert idle.job.snapshot().owner == OWNER and idle.job.snapshot().max_steps == 20000

    # Its samples are served while the training runs, each in well under the training time.
    sample_seconds = []
    for seed in range(3):
        began = time.monotonic()
        text, note = other_client.predict("서울 근무", 0.9, 50, 1.0, 30, seed, api_name="/sample")
        sample_seconds.append(time.monotonic() - began)
        assert text.startswith("서울 근무") and len(text) > len("서울 근무"), (text, note)
    state = idle.job.snapshot()
    assert state.status == "running", "the run must have kept going while the samples were served"
    assert state.step > first_step
    assert max(sample_seconds) < 3.0, sample_seconds

    assert other_client.predict(owner=OTHER, api_name="/stop") == \
        "Only the visitor who started this run can stop it."
    assert client.predict(owner=OWNER, api_name="/stop").startswith("Stopping after the current step")
    wait_for(training.done, 15, "the first client's stream ending")
    assert training.outputs()[-1][0].startswith("Stopped at step ")


def test_a_named_run_through_the_api_and_crafted_run_names_are_refused(client, idle):
    from gpt.config import run_name_problem

    ensure_checkpoint(idle)
    default_run = idle.storage.run().checkpoint.read_bytes()
    named_file = idle.storage.root / "checkpoints" / "실험-1" / "ckpt.pt"
    outputs = list(client.submit(**train_args(run_name="실험-1", max_steps=20, eval_interval=10,
                                              sample_every_eval=False), api_name="/train"))
    assert outputs[-1][0] == f"Done: reached max_steps (20). Checkpoint: `{named_file}`", outputs[-1][0]
    assert ["실험-1", "실험-1"] in [choice for output in outputs if isinstance(output[-4], dict)
                                    for choice in output[-4].get("choices", [])]
    assert idle.storage.run().checkpoint.read_bytes() == default_run

    # /sample takes the run; without it (the calls above) it samples the default run.
    text, note = client.predict("채용", 0.9, 50, 1.0, 20, 1, "실험-1", api_name="/sample")
    assert text.startswith("채용") and len(text) > len("채용") and note == ""
    assert idle._loaded[0] == str(named_file)  # the model the server loaded for it
    client.predict("채용", 0.9, 50, 1.0, 20, 1, api_name="/sample")
    assert idle._loaded[0] == str(idle.storage.run().checkpoint)

    # Crafted run names get the message, and nothing outside checkpoints/ is read.
    for crafted in ("../..", "/etc", "..\\ckpt", "a/../../b"):
        text, note = client.predict("hi", 0.9, 50, 1.0, 10, 1, crafted, api_name="/sample")
        assert (text, note) == ("", f"**Fix this first:** {run_name_problem(crafted)}"), note
        assert idle._loaded[0] == str(idle.storage.run().checkpoint)
    refused = list(client.submit(**train_args(run_name="../..", max_steps=20, eval_interval=10), api_name="/train"))
    assert refused[-1][0].startswith("**Fix these first:**\n- run name '../..' contains '/'"), refused[-1][0]


def test_prepare_data_through_the_api_then_the_old_checkpoint_does_not_fit(client, idle, tmp_path):
    from gradio_client import handle_file

    data = idle.storage.root / "data"
    before = {name: (data / name).read_bytes() for name in DATA_FILES}
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"hello\n" * 5 + "caf\u00e9".encode("latin-1"))
    status, preview = client.predict("upload", [handle_file(str(bad))], 1000, OWNER, api_name="/prepare_data")
    assert status.startswith("**Cannot use this data:**") and "not valid UTF-8 at byte 33" in status
    assert {name: (data / name).read_bytes() for name in DATA_FILES} == before

    good = tmp_path / "new_postings.txt"
    good.write_text(make_text(120_000, seed=11), encoding="utf-8")
    status, preview = client.predict("upload", [handle_file(str(good))], 1000, OWNER, api_name="/prepare_data")
    assert status.startswith("**new_postings.txt**:") and "vocabulary 1,000" in status, status
    assert preview and preview[0]["class_or_confidence"] == "0"
    assert "".join(item["token"] for item in preview) == good.read_text(encoding="utf-8")[:600]

    # The checkpoint was trained with the old tokenizer: Train says so and offers to start fresh.
    job = client.submit(**train_args(max_steps=20, eval_interval=10), api_name="/train")
    outputs = list(job)
    assert outputs[-1][0].startswith("**The checkpoint was trained on other data.**"), outputs[-1][0]
    assert idle.job.snapshot().error_kind == "tokenizer"


def test_a_korean_client_gets_korean_messages(server, idle):
    from gradio_client import Client

    korean = Client(server[1], verbose=False, headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"})
    assert korean.predict(owner=OWNER, api_name="/stop") == "진행 중인 학습이 없습니다."


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_train_and_sample_in_each_number_type_through_the_api(client, idle, dtype):
    outputs = list(client.submit(**train_args(dtype=dtype, max_steps=20, eval_interval=10, run_name=f"type-{dtype}",
                                              resume_mode="fresh"), api_name="/train"))
    status, log, sample = outputs[-1][0], outputs[-1][3], last_sent(outputs, 2)  # (the plot streams on /plot)
    assert status.startswith("Done: reached max_steps (20)"), status
    assert f"({dtype}: as requested)" in log and "CPU features: avx2 " in log
    assert sample.startswith("[step 20]\n")
    text, note = client.predict(prompt="", temperature=0.9, top_k=50, top_p=1.0, max_new_tokens=12, seed=1,
                                run_name=f"type-{dtype}", precision=dtype, api_name="/sample")
    assert text.strip() and note == ""


def test_inspect_score_and_runs_through_the_api(client, idle):
    list(client.submit(**train_args(max_steps=20, eval_interval=10, run_name="api-inspect", resume_mode="fresh"),
                       api_name="/train"))
    tokens = client.predict(prompt="We build", temperature=0.9, top_k=50, top_p=1.0, max_new_tokens=8, seed=3,
                            run_name="api-inspect", api_name="/inspect")
    assert len(tokens) == 8
    for token in tokens:
        assert set(token) >= {"text", "id", "prob", "raw_prob", "alternatives"}
        probabilities = [a["raw_prob"] for a in token["alternatives"]]
        assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 10
        same = [a for a in token["alternatives"] if a["id"] == token["id"]]
        assert not same or (same[0]["prob"], same[0]["raw_prob"]) == (token["prob"], token["raw_prob"])
    again = client.predict(prompt="We build", temperature=0.9, top_k=50, top_p=1.0, max_new_tokens=8, seed=3,
                           run_name="api-inspect", api_name="/inspect")
    assert [t["id"] for t in again] == [t["id"] for t in tokens]  # the same seed, the same text

    score = client.predict(text="서울 근무 We build a product", run_name="api-inspect", api_name="/score")
    assert score["bytes"] == len("서울 근무 We build a product".encode("utf-8"))
    assert abs(score["bits_per_byte"] - score["total_bits"] / score["bytes"]) < 1e-9
    assert abs(sum(t["bits"] for t in score["tokens"]) - score["total_bits"]) < 1e-6

    runs = client.predict(api_name="/runs")
    named = next(run for run in runs if run["name"] == "api-inspect")
    assert named["step"] == 20 and [point["step"] for point in named["curve"]] == [0, 10, 20]
    with pytest.raises(Exception, match="no checkpoint|Cannot sample"):
        client.predict(text="hello", run_name="no-such-run", api_name="/score")
