"""The browser app: train a small GPT by slider, watch the loss, sample from the checkpoint.

    python app.py            # then open http://127.0.0.1:7860

The page is declared top to bottom as it appears; the event wiring follows; what each event
does lives in `ui/handlers.py`. Training runs in a server-owned background job, so closing
the page does not stop it and a page opened later shows the same run.
"""

import os

# Before gradio is imported: no analytics or telemetry calls, which block for seconds offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import inspect  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from gpt.config import Config  # noqa: E402
from gpt.device import INFERENCE_PRECISIONS, available_devices, offered_dtypes  # noqa: E402
from ui.handlers import (CONTROL_FIELDS, CORPUS_CHOICES, DEFAULT_PRESET, PRESETS, RESUME_MODES, Storage,  # noqa: E402
                         TrainerApp, max_upload_bytes)
from ui.strings import i18n, label, language_of  # noqa: E402

APP_DIR = Path(__file__).resolve().parent
TOKEN_COLOURS = {"0": "#dbeafe", "1": "#fde68a", "2": "#bbf7d0", "3": "#fbcfe8"}


def named(function, names, with_progress=False):
    """A handler whose parameters carry the names the API shows (the config fields, ...).

    The page's handlers take their values positionally; gradio names API parameters after the
    function's signature and injects the request (and a progress tracker) by position, so
    the wrapper declares all of them and passes request and progress on by keyword.
    """
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=gr.Request))
    if with_progress:
        parameters.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=gr.Progress()))
    extras = ("request", "progress") if with_progress else ("request",)

    def split(args):
        values = list(args[:len(names)]) + [None] * (len(names) - len(args))
        return values, dict(zip(extras, args[len(names):]))

    if inspect.isasyncgenfunction(function):
        async def wrapper(*args):
            values, keywords = split(args)
            async for item in function(*values, **keywords):
                yield item
    elif inspect.isgeneratorfunction(function):
        def wrapper(*args):
            values, keywords = split(args)
            yield from function(*values, **keywords)
    else:
        def wrapper(*args):
            values, keywords = split(args)
            return function(*values, **keywords)
    wrapper.__name__ = function.__name__
    wrapper.__signature__ = inspect.Signature(parameters)
    wrapper.__annotations__ = {"request": gr.Request}
    return wrapper


def build_ui(app: TrainerApp) -> gr.Blocks:
    preset_values = PRESETS[DEFAULT_PRESET]
    defaults = Config()

    with gr.Blocks(title="Small GPT trainer") as demo:
        owner = gr.BrowserState("", storage_key="gpt_trainer_owner")
        gr.Markdown(label("title"))
        gr.Markdown(label("intro"))
        if app.storage.temporary:
            gr.Markdown(label("temporary_storage"), elem_id="temporary-storage")

        with gr.Tabs():
            with gr.Tab(label("tab_train"), id="train"):
                preset = gr.Dropdown([(label(f"preset_{key}"), key) for key in PRESETS], value=DEFAULT_PRESET,
                                     label=label("preset"), info=label("preset_info"), elem_id="preset")
                summary = gr.Markdown(elem_id="config-summary")
                problems = gr.Markdown(elem_id="config-problems")
                controls = {}
                with gr.Row():
                    with gr.Column():
                        gr.Markdown(label("group_model"))
                        with gr.Group():
                            for name, low, high, step in (("block_size", 8, 1024, 8), ("n_layer", 1, 24, 1),
                                                          ("n_head", 1, 16, 1), ("n_embd", 16, 1024, 16)):
                                controls[name] = gr.Slider(low, high, value=preset_values[name], step=step, precision=0,
                                                           label=label(name), info=label(f"{name}_info"), elem_id=name)
                            controls["dropout"] = gr.Slider(0.0, 0.5, value=preset_values["dropout"], step=0.05,
                                                            label=label("dropout"), info=label("dropout_info"), elem_id="dropout")
                    with gr.Column():
                        gr.Markdown(label("group_optim"))
                        with gr.Group():
                            controls["batch_size"] = gr.Slider(1, 128, value=preset_values["batch_size"], step=1, precision=0,
                                                               label=label("batch_size"), info=label("batch_size_info"),
                                                               elem_id="batch_size")
                            controls["lr"] = gr.Number(value=preset_values["lr"], minimum=0, step=1e-4, label=label("lr"),
                                                       info=label("lr_info"), elem_id="lr")
                            controls["max_steps"] = gr.Slider(1, 50000, value=preset_values["max_steps"], step=1, precision=0,
                                                              label=label("max_steps"), info=label("max_steps_info"),
                                                              elem_id="max_steps")
                            controls["grad_clip"] = gr.Slider(0.0, 5.0, value=preset_values["grad_clip"], step=0.1,
                                                              label=label("grad_clip"), info=label("grad_clip_info"),
                                                              elem_id="grad_clip")
                            controls["lr_schedule"] = gr.Radio(["constant", "cosine"], value=preset_values["lr_schedule"],
                                                               label=label("lr_schedule"), info=label("lr_schedule_info"),
                                                               elem_id="lr_schedule")
                    with gr.Column():
                        gr.Markdown(label("group_eval"))
                        with gr.Group():
                            controls["eval_interval"] = gr.Slider(1, 5000, value=preset_values["eval_interval"], step=1,
                                                                  precision=0, label=label("eval_interval"),
                                                                  info=label("eval_interval_info"), elem_id="eval_interval")
                            controls["eval_iters"] = gr.Slider(1, 500, value=preset_values["eval_iters"], step=1, precision=0,
                                                               label=label("eval_iters"), info=label("eval_iters_info"),
                                                               elem_id="eval_iters")
                            controls["sample_every_eval"] = gr.Checkbox(value=preset_values["sample_every_eval"],
                                                                        label=label("sample_every_eval"),
                                                                        info=label("sample_every_eval_info"),
                                                                        elem_id="sample_every_eval")
                            controls["sample_max_new_tokens"] = gr.Slider(1, 1000, value=preset_values["sample_max_new_tokens"],
                                                                          step=1, precision=0,
                                                                          label=label("sample_max_new_tokens"),
                                                                          info=label("sample_max_new_tokens_info"),
                                                                          elem_id="sample_max_new_tokens")
                            controls["temperature"] = gr.Slider(0.0, 2.0, value=preset_values["temperature"], step=0.05,
                                                                label=label("temperature"), info=label("temperature_info"),
                                                                elem_id="temperature")
                            controls["top_k"] = gr.Slider(0, 1000, value=preset_values["top_k"], step=1, precision=0,
                                                          label=label("top_k"), info=label("top_k_info"), elem_id="top_k")
                gr.Markdown(label("group_device"))
                with gr.Row():
                    controls["device"] = gr.Dropdown(available_devices(), value=preset_values["device"],
                                                     label=label("device"), info=label("device_info"), elem_id="device")
                    # float16 is listed where a GPU has it; by name (the API) it is accepted anywhere.
                    controls["dtype"] = gr.Dropdown(offered_dtypes(), value=preset_values["dtype"], allow_custom_value=True,
                                                    label=label("dtype"), info=label("dtype_info"), elem_id="dtype")
                controls["run_name"] = gr.Textbox(value="", max_lines=1, label=label("run_name"),
                                                  info=label("run_name_info"), elem_id="run_name")
                with gr.Row():
                    train_button = gr.Button(label("train"), variant="primary", elem_id="train-button")
                    stop_button = gr.Button(label("stop"), variant="stop", interactive=False, elem_id="stop-button")
                    measure_button = gr.Button(label("measure"), elem_id="measure-button")
                with gr.Row():
                    resume_button = gr.Button(label("resume_checkpoint"), visible=False, elem_id="resume-button")
                    fresh_button = gr.Button(label("start_fresh"), visible=False, elem_id="fresh-button")
                status = gr.Markdown(elem_id="train-status")
                progress = gr.HTML(elem_id="train-progress-box")
                gr.Markdown(label("plot"))
                plot = gr.Plot(show_label=False, elem_id="loss-plot")
                latest_sample = gr.Textbox(label=label("latest_sample"), lines=10, max_lines=20, interactive=False,
                                           elem_id="latest-sample")
                log = gr.Textbox(label=label("log"), lines=8, max_lines=8, interactive=False, autoscroll=True,
                                 elem_id="train-log")

            with gr.Tab(label("tab_data"), id="data"):
                corpus = gr.Radio([(label("corpus_" + choice), choice) for choice in CORPUS_CHOICES], value="builtin_ko",
                                  label=label("corpus"), elem_id="corpus")
                uploads = gr.File(file_count="multiple", file_types=[".txt"], type="filepath", label=label("upload"),
                                  elem_id="uploads")
                vocab_size = gr.Slider(257, 65535, value=defaults.vocab_size, step=1, precision=0,
                                       label=label("vocab_size"), info=label("vocab_size_info"), elem_id="vocab_size")
                prepare_button = gr.Button(label("prepare"), elem_id="prepare-button")
                data_status = gr.Markdown(elem_id="data-status")
                preview = gr.HighlightedText(label=label("preview"), color_map=TOKEN_COLOURS, show_legend=False,
                                             show_inline_category=False, elem_id="token-preview")

            with gr.Tab(label("tab_sample"), id="sample"):
                # Any typed name is checked on the server (the API can send anything anyway).
                run_picker = gr.Dropdown([(name or label("default_run"), name) for name in app.storage.runs()],
                                         value="", allow_custom_value=True, label=label("sample_run"),
                                         info=label("sample_run_info"), elem_id="sample-run")
                checkpoint_info = gr.Markdown(elem_id="checkpoint-info")
                with gr.Row():
                    refresh_button = gr.Button(label("refresh"), size="sm", elem_id="refresh-button")
                    download_button = gr.DownloadButton(label("download"), size="sm", visible=False,
                                                        elem_id="download-checkpoint")
                prompt = gr.Textbox(label=label("prompt"), info=label("prompt_info"), lines=2, elem_id="prompt")
                with gr.Row():
                    sample_temperature = gr.Slider(0.0, 2.0, value=defaults.temperature, step=0.05,
                                                   label=label("temperature"), info=label("temperature_info"),
                                                   elem_id="sample-temperature")
                    sample_top_k = gr.Slider(0, 1000, value=defaults.top_k, step=1, precision=0, label=label("top_k"),
                                             info=label("top_k_info"), elem_id="sample-top-k")
                    sample_top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label=label("top_p"),
                                             info=label("top_p_info"), elem_id="sample-top-p")
                with gr.Row():
                    sample_max_new_tokens = gr.Slider(1, 1000, value=defaults.sample_max_new_tokens, step=1, precision=0,
                                                      label=label("max_new_tokens"), elem_id="sample-max-new-tokens")
                    sample_seed = gr.Number(value=-1, precision=0, label=label("seed"), elem_id="sample-seed")
                    sample_precision = gr.Dropdown(["auto", *INFERENCE_PRECISIONS], value="auto",
                                                   label=label("sample_precision"), info=label("sample_precision_info"),
                                                   elem_id="sample-precision")
                generate_button = gr.Button(label("generate"), variant="primary", elem_id="generate-button")
                sample_note = gr.Markdown(elem_id="sample-note")
                output = gr.Textbox(label=label("output"), lines=14, interactive=False, elem_id="sample-output")

        # -- wiring ---------------------------------------------------------------------------

        control_list = [controls[name] for name in CONTROL_FIELDS]
        job_outputs = [status, progress, plot, latest_sample, log, train_button, stop_button, resume_button,
                       fresh_button, *control_list, preset, vocab_size, run_picker]

        def values_of(args) -> dict:
            return dict(zip(CONTROL_FIELDS, args))

        def describe(*args, request: gr.Request = None):
            return app.describe_config(values_of(args[:-1]), args[-1], language=language_of(request))

        def describe_once_measured(*args, request: gr.Request = None):
            """The summary again once this device's speed is measured (a few seconds after start-up)."""
            app.calibrate_speed()
            return describe(*args, request=request)

        def measure(*args, request: gr.Request = None):
            return app.measure_step_time(values_of(args[:-1]), args[-1], language=language_of(request))

        def apply_preset(name):
            chosen = PRESETS.get(name, PRESETS[DEFAULT_PRESET])
            return [gr.update(value=chosen[field]) if field in chosen else gr.skip() for field in CONTROL_FIELDS]

        def remember_owner(token):
            return token or uuid.uuid4().hex

        async def start_train(*args, request: gr.Request = None):
            *config_values, vocab, resume_mode, token = args
            language = language_of(request)
            refusal = app.start_training(values_of(config_values), vocab, resume_mode, token or "", language)
            if refusal:
                yield app.refusal_view(refusal, token or "", language)
                return
            async for view in app.follow(token or "", language):
                yield view

        async def follow(token, request: gr.Request = None):
            async for view in app.follow(token or "", language_of(request)):
                yield view

        def stop(token, request: gr.Request = None):
            return app.stop_training(token or "", language_of(request))

        def prepare(corpus_choice, files, vocab, token, request: gr.Request = None, progress=gr.Progress()):
            return app.prepare_data(corpus_choice, files, vocab, token or "", language_of(request), progress)

        def sample(prompt_text, temperature, top_k, top_p, max_new_tokens, seed, run_name, precision,
                   request: gr.Request = None):
            yield from app.sample(prompt_text, temperature, top_k, top_p, max_new_tokens, seed, language_of(request),
                                  run_name, precision)

        def refresh_sample_tab(run_name, request: gr.Request = None):
            return app.sample_tab_view(run_name, language_of(request))

        def show_run(run_name, request: gr.Request = None):
            return app.run_view(run_name, language_of(request))

        def show_data_status(request: gr.Request = None):
            """The prepared data, and its vocabulary on the slider."""
            return app.data_status(language_of(request)), app.data_vocab_size(int(vocab_size.value))

        describe_inputs = [*control_list, vocab_size]
        for component in describe_inputs:
            component.change(named(describe, [*CONTROL_FIELDS, "vocab_size"]), describe_inputs, [summary, problems],
                             api_visibility="private", show_progress="hidden", queue=False)
        preset.change(apply_preset, preset, control_list, api_visibility="private", queue=False)
        measure_button.click(named(measure, [*CONTROL_FIELDS, "vocab_size"]), describe_inputs, [summary, problems],
                             api_visibility="private", concurrency_id="measure")

        train_inputs = [*control_list, vocab_size]
        # The API's /train takes resume_mode as a parameter; the page's three buttons fix it.
        resume_mode = gr.Dropdown(list(RESUME_MODES), value="ask", visible=False)
        for button, mode in ((train_button, None), (resume_button, "checkpoint_architecture"), (fresh_button, "fresh")):
            mode_box = resume_mode if mode is None else gr.State(mode)
            button.click(named(start_train, [*CONTROL_FIELDS, "vocab_size", "resume_mode", "owner"]),
                         [*train_inputs, mode_box, owner], job_outputs, concurrency_limit=None,
                         api_name="train" if mode is None else False, show_progress="hidden")
        stop_button.click(named(stop, ["owner"]), owner, status, api_name="stop", concurrency_limit=None)
        prepare_button.click(named(prepare, ["corpus", "files", "vocab_size", "owner"], with_progress=True),
                             [corpus, uploads, vocab_size, owner], [data_status, preview], api_name="prepare_data")
        # An uploaded file is what the visitor wants to train on: Prepare must not make the built-in corpus instead.
        uploads.upload(lambda: "upload", None, corpus, api_visibility="private", queue=False)
        sample_tab_outputs = [run_picker, checkpoint_info, download_button]
        refresh_button.click(refresh_sample_tab, run_picker, sample_tab_outputs, api_visibility="private")
        run_picker.change(show_run, run_picker, [checkpoint_info, download_button], api_visibility="private")
        generate_button.click(
            named(sample, ["prompt", "temperature", "top_k", "top_p", "max_new_tokens", "seed", "run_name", "precision"]),
            [prompt, sample_temperature, sample_top_k, sample_top_p, sample_max_new_tokens, sample_seed, run_picker,
             sample_precision],
            [output, sample_note], api_name="sample", concurrency_limit=8)

        demo.load(remember_owner, owner, owner, api_visibility="private", queue=False).then(
            named(follow, ["owner"]), owner, job_outputs, concurrency_limit=None, api_visibility="private",
            show_progress="hidden")
        demo.load(named(describe, [*CONTROL_FIELDS, "vocab_size"]), describe_inputs, [summary, problems],
                  api_visibility="private", queue=False).then(
            named(describe_once_measured, [*CONTROL_FIELDS, "vocab_size"]), describe_inputs, [summary, problems],
            api_visibility="private", show_progress="hidden")
        demo.load(show_data_status, None, [data_status, vocab_size], api_visibility="private", queue=False)
        demo.load(refresh_sample_tab, run_picker, sample_tab_outputs, api_visibility="private")
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
