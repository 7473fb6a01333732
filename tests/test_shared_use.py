"""Many visitors on one server: the app launched in-process and used at the same time through its API.

While one visitor's training run goes on (a tiny model, max_steps far away), eight visitors
sample at once and are all served while the run keeps stepping; another visitor's Train is
refused at once with the busy message instead of waiting in a queue; the owner's Stop ends
the run within about one step; and no visitor can read files outside the app's folders (nor
the app's checkpoint) through the server's file route, with or without `../` tricks.

The tests run in file order on one server; the run started by the `run` fixture is stopped
by the stop test (or at the end of the module).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path
from urllib.parse import quote

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from gpt.checkpoint import load_checkpoint  # noqa: E402
from ui.i18n import message  # noqa: E402

from conftest import TEST_VOCAB_SIZE, launched_app, step_of, wait_for  # noqa: E402

OWNER = "owner-visitor"
OTHER = "second-visitor"
SAMPLERS = 8


def train_args(**changes) -> dict:
    # The sliders' largest max_steps and eval_interval: the run outlasts the module.
    values = dict(block_size=32, n_layer=1, n_head=2, n_embd=32, dropout=0.0, batch_size=16, lr=1e-3, max_steps=50000,
                  grad_clip=1.0, lr_schedule="constant", eval_interval=5000, eval_iters=2, sample_every_eval=False,
                  sample_max_new_tokens=12, temperature=0.9, top_k=50, device="cpu", dtype="float32",
                  vocab_size=TEST_VOCAB_SIZE, resume_mode="ask", owner=OWNER)
    values.update(changes)
    return values


class Probe:
    """Server-side records: how many samples run at once, and the job's step around each stop request."""

    def __init__(self, trainer):
        self.lock = threading.Lock()
        self.sampling = 0
        self.most_at_once = 0
        self.stops = []  # (requester, step just before, step just after, accepted)
        sample, stop = trainer.sample, trainer.job.stop

        def counted_sample(*args, **kwargs):
            with self.lock:
                self.sampling += 1
                self.most_at_once = max(self.most_at_once, self.sampling)
            try:
                yield from sample(*args, **kwargs)
            finally:
                with self.lock:
                    self.sampling -= 1

        def recorded_stop(requester):
            before = trainer.job.snapshot().step
            accepted = stop(requester)
            self.stops.append((requester, before, trainer.job.snapshot().step, accepted))
            return accepted

        trainer.sample = counted_sample
        trainer.job.stop = recorded_stop


@pytest.fixture(scope="module")
def server(tmp_path_factory, prepared):
    """(TrainerApp, url, storage root, probe) of the app launched in this process."""
    root = tmp_path_factory.mktemp("shared_app")
    probes = []

    def adjust(trainer):
        # Runs started through /train report every step (log_interval is a Config field, not a control),
        # so "within one step" can be checked exactly.
        controls_to_config = trainer.config_from_controls
        trainer.config_from_controls = lambda values: controls_to_config({**values, "log_interval": 1})
        probes.append(Probe(trainer))

    with launched_app(root, prepared, adjust) as (trainer, url):
        trainer.calibrate_speed()  # waits for the start-up measurement, so it does not compete with the tests
        yield trainer, url, root, probes[0]


def new_client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def run(server):
    """The owner's long run, started through /train after a short run left a checkpoint to sample from."""
    trainer, url, root, _ = server
    short = {name: value for name, value in train_args(max_steps=20, eval_interval=10).items()
             if name not in ("vocab_size", "resume_mode", "owner")}
    assert trainer.start_training(short, TEST_VOCAB_SIZE, "ask", OWNER, "en") is None
    assert trainer.job.wait(60) and trainer.storage.run().checkpoint.is_file()

    owner = new_client(url)
    job = owner.submit(**train_args(), api_name="/train")
    wait_for(lambda: any((step_of(output[0]) or 0) >= 30 for output in job.outputs()), 60,
             "the owner's run reporting step 30")
    yield job
    if not job.done():
        trainer.job.stop(OWNER)
        trainer.job.wait(30)


def test_eight_visitors_sample_at_once_while_the_run_keeps_going(server, run):
    trainer, url, _, probe = server
    clients = [None] * SAMPLERS
    results = [None] * SAMPLERS
    errors = []
    ready = threading.Barrier(SAMPLERS)

    def visit(index: int) -> None:
        try:
            clients[index] = new_client(url)
            ready.wait(60)  # every visitor asks at the same moment
            began = time.monotonic()
            prompt = f"서울 visitor {index}"
            text, note = clients[index].predict(prompt, 0.9, 50, 1.0, 60, index, api_name="/sample")
            results[index] = (prompt, text, note, time.monotonic() - began)
        except Exception as error:  # reported below with the visitor's number
            errors.append((index, repr(error)))

    step_before = trainer.job.snapshot().step
    visitors = [threading.Thread(target=visit, args=(index,)) for index in range(SAMPLERS)]
    for visitor in visitors:
        visitor.start()
    for visitor in visitors:
        visitor.join(120)
    assert not errors, errors
    assert all(result is not None for result in results), results
    for prompt, text, note, seconds in results:
        assert text.startswith(prompt) and len(text) > len(prompt), (prompt, text, note)
        assert note == "", note
    assert probe.most_at_once >= 2, "the samples were served one after another, not at the same time"

    state = trainer.job.snapshot()
    assert state.status == "running" and state.owner == OWNER, "the run must keep going while visitors sample"
    assert state.step > step_before, (step_before, state.step)
    assert not run.done()


def test_a_second_visitor_is_refused_at_once_not_queued(server, run):
    trainer, url, _, _ = server
    running = trainer.job.snapshot()
    assert running.status == "running"

    other = new_client(url)
    asked = time.monotonic()
    refused = other.submit(**train_args(owner=OTHER, max_steps=20000, n_layer=2), api_name="/train")
    first = wait_for(lambda: refused.outputs(), 10, "the refusal")[0]
    assert time.monotonic() - asked < 5
    assert first[0] == message("busy", "en"), first[0]
    wait_for(refused.done, 10, "the refused stream to end")
    assert len(refused.outputs()) == 1
    # Refused, not queued behind the run: the owner's stream still goes on and nothing changed.
    assert not run.done()
    state = trainer.job.snapshot()
    assert state.status == "running" and state.owner == OWNER and state.max_steps == 50000
    assert state.cfg.n_layer == 1 and state.started_at == running.started_at
    # Nor can the second visitor stop it.
    assert other.predict(owner=OTHER, api_name="/stop") == message("not_owner", "en")
    time.sleep(0.2)
    assert trainer.job.snapshot().status == "running"


def test_the_owner_stops_the_run_within_about_one_step(server, run):
    trainer, url, root, probe = server
    owner = new_client(url)
    asked = time.monotonic()
    assert owner.predict(owner=OWNER, api_name="/stop") == message("stop_requested", "en")
    assert trainer.job.wait(10), "the run did not end within 10 s of Stop"
    seconds = time.monotonic() - asked
    wait_for(run.done, 10, "the owner's /train stream ending")

    [(requester, before, after, accepted)] = [stop for stop in probe.stops if stop[0] == OWNER]
    assert accepted and requester == OWNER
    state = trainer.job.snapshot()
    assert state.finish_reason == "stopped", (state.status, state.message)
    # With log_interval 1 the job's step is the loop's: at most the step in progress finishes.
    assert before <= state.step <= after + 1, (before, after, state.step)
    assert seconds < 5, seconds
    assert load_checkpoint(root / "checkpoints" / "ckpt.pt")["step"] == state.step
    assert run.outputs()[-1][0].startswith(f"Stopped at step {state.step:,};"), run.outputs()[-1][0]


# -- no file outside the app's folders, nor the checkpoint, through the server --------------------


def get(url: str, path: str) -> tuple[int, bytes]:
    """A raw GET: the path goes out byte for byte (no client-side `../` clean-up)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def traversal_paths(target: Path, root: Path) -> list[str]:
    """Ways to name `target` in the file route: absolute, ../ from the app folder, encoded, doubled."""
    up = "../" * (len(root.parts) + 2)
    relative = str(target).lstrip("/")
    paths = []
    for prefix in ("/gradio_api/file=", "/file=", "/gradio_api/file/", "/static/", "/assets/"):
        paths += [prefix + str(target), prefix + up + relative, prefix + quote(up + relative, safe=""),
                  prefix + up.replace("../", "..%2f") + relative, prefix + up.replace("../", "%2e%2e/") + relative,
                  prefix + up.replace("../", "....//") + relative, prefix + "/" + str(target)]
        try:
            paths.append(prefix + str(target.relative_to(root)))  # relative to the app folder (the cwd here)
        except ValueError:
            pass
    return paths


def test_no_visitor_can_read_files_through_the_server(server, monkeypatch):
    _, url, root, _ = server
    monkeypatch.chdir(root)  # as when app.py runs from its folder with the checkpoints inside
    checkpoint = root / "checkpoints" / "ckpt.pt"
    secrets = {Path("/etc/passwd"): b"root:", checkpoint: checkpoint.read_bytes()[:64],
               root / "data" / "tokenizer.json": (root / "data" / "tokenizer.json").read_bytes()[:64]}
    assert b"root:" in Path("/etc/passwd").read_bytes()
    served = []
    for target, content in secrets.items():
        for path in traversal_paths(target, root):
            status, body = get(url, path)
            if content in body:
                served.append((path, status))
            if "file=" in path:
                assert status >= 400, (path, status, body[:200])
    assert not served, f"files served to a visitor: {served}"
    # The route itself works: the page is served (so the refusals above are not a dead server).
    status, body = get(url, "/")
    assert status == 200 and b"<html" in body.lower()
