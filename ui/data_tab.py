"""The Data tab: the built-in corpus (one choice per corpus in gpt/corpus/) or the visitor's own text files,
the tokenizer's vocabulary size, and a token-coloured preview of what was prepared."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gpt import (Config, corpus_names, corpus_text_path, DataError, load_tokenizer, max_upload_bytes,
                 prepare_builtin, prepare_files, read_meta, settings, token_pieces, TokenizerError)
from gpt.locales import has_text

from .controls import control_for
from .i18n import label, language_of, message, say
from .job import JobBusy
from .page import Page, api, view

BUILTIN_PREFIX = "builtin_"
CORPUS_CHOICES = (*(BUILTIN_PREFIX + name for name in corpus_names()), "upload")
PREVIEW_CHARACTERS = 600
TOKEN_COLOURS = {"0": "#dbeafe", "1": "#fde68a", "2": "#bbf7d0", "3": "#fbcfe8"}
VOCAB_SETTING = next(s for s in settings(Config) if s.name == "vocab_size")

DataView = view("DataView", ["data.status", "data.preview"])


class DataTab:
    """The Data tab's handlers."""

    def data_vocab_size(self, requested: int) -> int:
        """The prepared tokenizer's vocabulary, or the requested size while nothing is prepared."""
        info = read_meta(self.storage.config().train_bin)
        return info.vocab_size if info else requested

    def data_status(self, language: str) -> str:
        info = read_meta(self.storage.config().train_bin)
        if info is None:
            return message("no_data", language)
        return message("data_ready", language, source=info.source, train_tokens=info.train_tokens,
                       val_tokens=info.val_tokens, vocab_size=info.vocab_size, tokens_per_byte=info.tokens_per_byte)

    def prepare_data(self, corpus: str, files: list[str] | None, vocab_size: int, owner: str, language: str,
                     progress=None) -> DataView:
        """Prepare bins from the chosen text: its status, and a preview of its first tokens."""
        cfg = self.storage.config(vocab_size=int(vocab_size))
        if problems := [text for name, text in cfg.problems() if name == "vocab_size"]:
            return DataView(message("data_error", language, message=say(problems[0], language)), [])
        if corpus not in CORPUS_CHOICES:
            return DataView(message("data_error", language, message=f"unknown corpus {corpus!r}"), [])
        if corpus == "upload" and not files:
            return DataView(message("data_error", language, message=message("need_upload", language)), [])
        try:
            with self.job.hold_for_data_preparation(owner):
                if corpus == "upload":
                    steps = prepare_files(files, cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size,
                                          cfg.val_fraction, max_bytes=max_upload_bytes())
                else:
                    steps = prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size,
                                            cfg.val_fraction, language=corpus.removeprefix(BUILTIN_PREFIX))
                for step in steps:
                    if progress is not None:
                        progress(step.done / step.total if step.total else None, desc=say(step.message, language))
        except JobBusy as error:
            return DataView(message("data_error", language, message=str(error)), [])
        except (DataError, TokenizerError, OSError) as error:
            return DataView(message("data_error", language, message=say(error.args[0], language)), [])
        preview_source = files[0] if corpus == "upload" else corpus_text_path(
            Path(cfg.train_bin).parent, corpus.removeprefix(BUILTIN_PREFIX))
        return DataView(self.data_status(language), self.token_preview(preview_source))

    def token_preview(self, text_file: str | Path) -> list[tuple[str, str]]:
        """The first lines of the text cut into tokens, for gr.HighlightedText (alternating colours)."""
        try:
            tokenizer = load_tokenizer(self.storage.config().tok_path)
            with open(text_file, encoding="utf-8", errors="replace") as file:
                text = file.read(PREVIEW_CHARACTERS)
        except (TokenizerError, OSError):
            return []
        pieces = token_pieces(tokenizer, tokenizer.encode(text).ids)
        return [(piece.text, str(index % 4)) for index, piece in enumerate(pieces)]


def corpus_label(choice: str):
    key = f"corpus_{choice}"
    return label(key) if has_text(f"label.{key}") else choice.removeprefix(BUILTIN_PREFIX)


def build(page: Page, app) -> None:
    page.add("data.corpus", gr.Radio([(corpus_label(choice), choice) for choice in CORPUS_CHOICES],
                                     value=CORPUS_CHOICES[0], label=label("corpus"), elem_id="corpus"))
    page.add("data.uploads", gr.File(file_count="multiple", file_types=[".txt"], type="filepath",
                                     label=label("upload"), elem_id="uploads"))
    page.add("data.vocab_size", control_for(VOCAB_SETTING, Config.vocab_size, elem_id="vocab_size"))
    page.add("data.prepare_button", gr.Button(label("prepare"), elem_id="prepare-button"))
    page.add("data.status", gr.Markdown(elem_id="data-status"))
    page.add("data.preview", gr.HighlightedText(label=label("preview"), color_map=TOKEN_COLOURS, show_legend=False,
                                                show_inline_category=False, elem_id="token-preview"))


def wire(page: Page, app, owner, demo: gr.Blocks) -> None:
    def prepare(corpus_choice, files, vocab, token, request: gr.Request = None, progress=gr.Progress()):
        return app.prepare_data(corpus_choice, files, vocab, token or "", language_of(request), progress)

    def show_data_status(request: gr.Request = None):
        """The prepared data, and its vocabulary on the slider."""
        return app.data_status(language_of(request)), app.data_vocab_size(int(page["data.vocab_size"].value))

    page["data.prepare_button"].click(
        api(prepare, ["corpus", "files", "vocab_size", "owner"], with_progress=True),
        [page["data.corpus"], page["data.uploads"], page["data.vocab_size"], owner], page.components_of(DataView),
        api_name="prepare_data")
    # An uploaded file is what the visitor wants to train on: Prepare must not make the built-in corpus instead.
    page["data.uploads"].upload(lambda: "upload", None, page["data.corpus"], api_visibility="private", queue=False)
    demo.load(show_data_status, None, [page["data.status"], page["data.vocab_size"]], api_visibility="private",
              queue=False)
