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

import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from gpt.data import max_upload_bytes  # noqa: E402
from ui import data_tab, sample_tab, train_tab  # noqa: E402
from ui.i18n import i18n, label  # noqa: E402
from ui.page import Page  # noqa: E402
from ui.storage import Storage  # noqa: E402
from ui.trainer import TrainerApp  # noqa: E402

APP_DIR = Path(__file__).resolve().parent
TABS = ((train_tab, "tab_train", "train"), (data_tab, "tab_data", "data"), (sample_tab, "tab_sample", "sample"))


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
                with gr.Tab(label(title), id=tab_id):
                    tab.build(page, app)
        for tab, _, _ in TABS:
            tab.wire(page, app, owner, demo)
    return demo


def create_app(storage: Storage | None = None) -> tuple[TrainerApp, gr.Blocks]:
    app = TrainerApp(storage or Storage.for_this_machine(APP_DIR))
    # Measure this device once in the background, for the step-time estimates.
    threading.Thread(target=app.calibrate_speed, name="calibrate", daemon=True).start()
    return app, build_ui(app)


def launch(demo: gr.Blocks, **options):
    return demo.queue(default_concurrency_limit=1).launch(i18n=i18n, max_file_size=max_upload_bytes(), **options)


if __name__ == "__main__":
    _, demo = create_app()
    launch(demo, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
