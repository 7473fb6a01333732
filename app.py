"""The browser app: train a small GPT by slider, watch the loss, sample from the checkpoint.

    python app.py            # then open http://127.0.0.1:7860

The page is declared top to bottom as it appears, one tab per module of `ui/` (each lays out its
components and wires its events); what each event does is a method of `ui.trainer.TrainerApp`.
Training runs in a server-owned background job, so closing the page does not stop it and a page
opened later shows the same run.
"""

import os

# Before gradio is imported: no analytics or telemetry calls, which block for seconds offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import signal  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from gpt.data import max_upload_bytes  # noqa: E402
from ui import data_tab, runs_tab, sample_tab, train_tab  # noqa: E402
from ui.i18n import i18n, label  # noqa: E402
from ui.page import Page  # noqa: E402
from ui.page_cost import FirstScriptMiddleware, run_handlers_on_one_thread  # noqa: E402
from ui.storage import Storage  # noqa: E402
from ui.trainer import TrainerApp  # noqa: E402

APP_DIR = Path(__file__).resolve().parent
TABS = ((train_tab, "tab_train", "train"), (data_tab, "tab_data", "data"), (sample_tab, "tab_sample", "sample"),
        (runs_tab, "tab_runs", "runs"))


def build_ui(app: TrainerApp) -> gr.Blocks:
    page = Page()
    with gr.Blocks(title="Small GPT trainer") as demo:
        owner = gr.BrowserState("", storage_key="gpt_trainer_owner")  # who started a run may stop it
        gr.Markdown(label("title"))
        gr.Markdown(label("intro"))
        if app.storage.temporary:
            gr.Markdown(label("temporary_storage"), elem_id="temporary-storage")
        with gr.Tabs():
            for tab, title, tab_id in TABS:
                with page.add(f"tab.{tab_id}", gr.Tab(label(title), id=tab_id)):
                    tab.build(page, app)
        for tab, _, _ in TABS:
            tab.wire(page, app, owner, demo)
    run_handlers_on_one_thread(demo)  # training keeps its speed beside the page's work (ui.page_cost)
    return demo


def create_app(storage: Storage | None = None, calibrate: bool = True,
               train_on_caller_thread: bool = False) -> tuple[TrainerApp, gr.Blocks]:
    app = TrainerApp(storage or Storage.for_this_machine(APP_DIR), train_on_caller_thread)
    if calibrate:  # measure this device once in the background, for the step-time estimates
        threading.Thread(target=app.calibrate_speed, name="calibrate", daemon=True).start()
    return app, build_ui(app)


# Gradio's queue looks for new events every 1 ms and for progress every 10 ms; each look takes
# Python's lock from the training thread, and an idle server cost a CPU-preset run 10-15% of
# its speed. 50 and 100 ms (Gradio's own values on Windows) add at most 50 ms before an event starts.
QUEUE_POLL_SECONDS, PROGRESS_POLL_SECONDS = 0.05, 0.1


def launch(demo: gr.Blocks, **options):
    demo.queue(default_concurrency_limit=1)
    demo._queue.sleep_when_free = QUEUE_POLL_SECONDS
    demo._queue.progress_update_sleep_when_free = PROGRESS_POLL_SECONDS
    # The page's first script keeps an open page from costing training a share of a core (ui.page_cost).
    app_kwargs = {"middleware": [Middleware(FirstScriptMiddleware)]}
    return demo.launch(i18n=i18n, max_file_size=max_upload_bytes(), app_kwargs=app_kwargs, **options)


def serve(storage: Storage | None = None, **options) -> None:
    """The page from the server's threads, training (and the speed measurement) on this one: see TrainingJob."""
    app, demo = create_app(storage, calibrate=False, train_on_caller_thread=True)
    launch(demo, prevent_thread_lock=True, **options)

    def interrupted(signum, frame):
        if app.job._closing.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: quit at once
        print("\nstopping: the run in progress saves a checkpoint first (Ctrl-C again to quit at once)", flush=True)
        app.job.close()

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        app.job.work_here(before=app.calibrate_speed)
    finally:
        demo.close()


if __name__ == "__main__":
    serve(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
