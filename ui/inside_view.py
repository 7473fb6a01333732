"""Inside the model, on the Sample tab: tokens with their probabilities, a text's surprise, attention.

- Generate token by token: each token coloured by the probability the sampler gave it; select
  one to see the likeliest alternatives before and after the sampling settings, and continue
  the text from there with one of them (same seed and settings, that token forced).
- Score a text: each token coloured by what it cost the model in bits, the text's bits per byte
  beside the checkpoint's validation bits per byte, and the most surprising pieces.
- Attention: for the prompt and its continuation, a heatmap per layer and head, or their average.

The numbers come from `gpt.probabilities` and `gpt.attention_maps`; `/inspect` and `/score`
give them as JSON.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import gradio as gr

from gpt import CheckpointError, ConfigError, SamplingOptions, TokenizerError
from gpt.attention_maps import attention_maps
from gpt.probabilities import (InspectedToken, continue_with, inspect_generation, most_surprising, score_text,
                               to_json, token_texts)

from .i18n import label, label_text, language_of, message, say
from .inside_plots import SHOWN_AS, attention_figure, surprise_strength
from .page import Page, api, view

InspectView = view("InspectView", ["sample.tokens", "sample.token_picker", "sample.alternatives",
                                   "sample.alternative_picker", "sample.inspect_note", "sample.inspection"])
AlternativesView = view("AlternativesView", ["sample.alternatives", "sample.alternative_picker"])
ScoreView = view("ScoreView", ["sample.scored", "sample.score_summary"])
AttentionView = view("AttentionView", ["sample.attention_layer", "sample.attention_head", "sample.attention_plot",
                                       "sample.attention_note", "sample.attention"])
AVERAGE = -1  # the head picker's "average over heads"


@dataclass
class Inspection:
    """One inspected text, kept in the visitor's session so that an alternative can be chosen later."""

    run_name: str
    precision: str
    prompt_ids: list[int]
    options: SamplingOptions
    tokens: list[InspectedToken] = field(default_factory=list)


@dataclass
class Attention:
    maps: object  # torch.Tensor (n_layer, n_head, T, T)
    labels: list[str]


class InsideView:
    """Handlers of the Sample tab's look inside; `TrainerApp` provides `loaded_model` and the rest."""

    def _model_or_problem(self, run_name: str, precision: str, language: str):
        try:
            return self.loaded_model(run_name or "", precision or "auto"), None
        except ConfigError as error:
            return None, message("sample_problem", language, message=say(error.problems[0][1], language))
        except (CheckpointError, TokenizerError) as error:
            return None, message("checkpoint_error", language, message=say(error.args[0], language))

    # -- tokens with their probabilities -------------------------------------------------------

    def inspect(self, prompt: str, options: SamplingOptions, run_name: str, precision: str,
                language: str) -> InspectView:
        problems = [say(text, language) for _, text in options.problems()]
        if problems:
            return self._inspect_failed(message("sample_problem", language, message="; ".join(problems)))
        loaded, problem = self._model_or_problem(run_name, precision, language)
        if problem:
            return self._inspect_failed(problem)
        # A random seed is drawn here and kept: continuing with an alternative reuses it.
        seed = options.seed if options.seed is not None else random.randrange(2**31)
        options = options.replace(seed=seed)
        prompt_ids = loaded.prompt_ids(prompt or "")
        tokens = inspect_generation(loaded.model, loaded.tokenizer, prompt_ids, options, loaded.generator(seed))
        inspection = Inspection(run_name or "", precision or "auto", prompt_ids, options, tokens)
        return self._inspect_view(inspection, message("inspect_done", language, seed=seed), loaded.tokenizer)

    def pick_token(self, inspection: Inspection | None, position: int | None, language: str) -> AlternativesView:
        """The likeliest alternatives at `position`, before and after the sampling settings."""
        if inspection is None or position is None or not 0 <= int(position) < len(inspection.tokens):
            return AlternativesView(gr.update(value=None, visible=False), gr.update(choices=[], value=None))
        token = inspection.tokens[int(position)]
        rows = [[piece_label(alternative.text), percent(alternative.prob), percent(alternative.raw_prob),
                 "✓" if alternative.id == token.id else ""] for alternative in token.alternatives]
        headers = [label_text(key, language) for key in ("alt_token", "alt_after", "alt_before", "alt_chosen")]
        choices = [(f"{piece_label(alternative.text)} · {percent(alternative.prob)}", alternative.id)
                   for alternative in token.alternatives if alternative.id != token.id]
        return AlternativesView(gr.update(value={"headers": headers, "data": rows}, visible=True),
                                gr.update(choices=choices, value=choices[0][1] if choices else None))

    def choose_alternative(self, inspection: Inspection | None, position: int | None, alternative_id: int | None,
                           language: str) -> InspectView:
        """The text again from `position`, with the chosen alternative there: same seed, same settings."""
        if inspection is None or position is None or alternative_id is None:
            return InspectView.of(**{"sample__inspect_note": message("inspect_pick_first", language)})
        loaded, problem = self._model_or_problem(inspection.run_name, inspection.precision, language)
        if problem:
            return InspectView.of(**{"sample__inspect_note": problem})
        position = int(position)
        # The text keeps its length: the tokens after the forced one replace those that were there.
        remaining = max(len(inspection.tokens) - position - 1, 1)
        try:
            tokens = continue_with(loaded.model, loaded.tokenizer, inspection.prompt_ids, inspection.tokens, position,
                                   int(alternative_id), inspection.options.replace(max_new_tokens=remaining),
                                   inspection.options.seed)
        except ValueError:  # the page sent a token that was not offered at that position
            return InspectView.of(**{"sample__inspect_note": message("inspect_pick_first", language)})
        chosen = Inspection(inspection.run_name, inspection.precision, inspection.prompt_ids, inspection.options,
                            tokens)
        return self._inspect_view(chosen, message("inspect_continued", language, position=position + 1,
                                                  token=tokens[position].text or token_texts(
                                                      loaded.tokenizer, [tokens[position].id])[0]), loaded.tokenizer)

    def _inspect_view(self, inspection: Inspection, note: str, tokenizer) -> InspectView:
        units = display_units(inspection.tokens, tokenizer)
        highlighted = [(text, round(1.0 - inspection.tokens[first].prob, 3)) for text, first in units]
        picker = [(f"#{first + 1} {text!r} · {percent(inspection.tokens[first].prob)}", first)
                  for text, first in units]
        return InspectView(highlighted, gr.update(choices=picker, value=None), gr.update(value=None, visible=False),
                           gr.update(choices=[], value=None), note, inspection)

    @staticmethod
    def _inspect_failed(note: str) -> InspectView:
        return InspectView([], gr.update(choices=[], value=None), gr.update(value=None, visible=False),
                           gr.update(choices=[], value=None), note, None)

    def inspect_json(self, prompt: str, temperature: float, top_k: int, top_p: float, max_new_tokens: int,
                     seed: int, run_name: str = "") -> list[dict]:
        """For /inspect: every generated token with its probability and its likeliest alternatives."""
        options = SamplingOptions(temperature=float(temperature), top_k=int(top_k), top_p=float(top_p),
                                  max_new_tokens=int(max_new_tokens), seed=None if seed is None or seed < 0 else int(seed))
        view = self.inspect(prompt, options, run_name, "float32", "en")
        if view.sample__inspection is None:
            raise gr.Error(view.sample__inspect_note)
        return to_json(view.sample__inspection.tokens)

    # -- how surprised the model is by a text --------------------------------------------------

    def score(self, text: str, run_name: str, precision: str, language: str) -> ScoreView:
        if not (text or "").strip():
            return ScoreView([], message("score_empty", language))
        loaded, problem = self._model_or_problem(run_name, precision, language)
        if problem:
            return ScoreView([], problem)
        score = score_text(loaded.model, loaded.tokenizer, text)
        units, pending = [], 0.0
        for token in score.tokens:  # tokens sharing a character are shown, and cost, together
            pending += token.bits
            if not token.joined_with_next:
                units.append((token.text, round(surprise_strength(pending, loaded.model.cfg.vocab_size), 3)))
                pending = 0.0
        val_bpb = loaded.checkpoint_info.get("val_bpb")
        surprises = "\n".join(f"{index}. `{surprise.text!r}` {surprise.bits:.1f} {label_text('bits', language)}"
                              for index, surprise in enumerate(most_surprising(score, 10), 1))
        summary = message("score_summary", language, bpb=score.bits_per_byte, bits=score.total_bits,
                          bytes=score.bytes, tokens=len(score.tokens),
                          val_bpb=f"{val_bpb:.3f}" if val_bpb is not None else "—", surprises=surprises)
        return ScoreView(units, summary)

    def score_json(self, text: str, run_name: str = "") -> dict:
        """For /score: the bits of each token and the text's bits per byte."""
        if not (text or "").strip():
            raise gr.Error(message("score_empty", "en"))
        loaded, problem = self._model_or_problem(run_name, "float32", "en")
        if problem:
            raise gr.Error(problem)
        score = score_text(loaded.model, loaded.tokenizer, text)
        return {"tokens": [{"text": t.text, "id": t.id, "bits": t.bits, "joined_with_next": t.joined_with_next}
                           for t in score.tokens],
                "total_bits": score.total_bits, "bytes": score.bytes, "bits_per_byte": score.bits_per_byte,
                "checkpoint_val_bpb": loaded.checkpoint_info.get("val_bpb")}

    # -- attention -----------------------------------------------------------------------------

    def attention(self, inspection: Inspection | None, prompt: str, run_name: str, precision: str,
                  language: str) -> AttentionView:
        """The maps of the last inspected text (or of the prompt alone), the last block_size tokens of it."""
        loaded, problem = self._model_or_problem(run_name, precision, language)
        if problem:
            return AttentionView(gr.update(), gr.update(), None, problem, None)
        if inspection is not None and inspection.tokens and inspection.run_name == (run_name or ""):
            ids = inspection.prompt_ids + [token.id for token in inspection.tokens]
        else:
            ids = loaded.prompt_ids(prompt or "")
        ids = ids[-loaded.model.cfg.block_size:]
        maps = attention_maps(loaded.model, ids)
        attention = Attention(maps, [piece_label(text) for text in token_texts(loaded.tokenizer, ids)])
        n_layer, n_head = maps.shape[0], maps.shape[1]
        layers = [(f"{label_text('layer', language)} {index + 1}", index) for index in range(n_layer)]
        heads = [(label_text("average_heads", language), AVERAGE)] + [
            (f"{label_text('head', language)} {index + 1}", index) for index in range(n_head)]
        figure = attention_figure(maps, attention.labels, 0, None, title="")
        return AttentionView(gr.update(choices=layers, value=0), gr.update(choices=heads, value=AVERAGE), figure,
                             message("attention_note", language, tokens=len(ids)), attention)

    def attention_plot(self, attention: Attention | None, layer: int | None, head: int | None):
        if attention is None or layer is None:
            return None
        return attention_figure(attention.maps, attention.labels, int(layer), None if head in (None, AVERAGE)
                                else int(head), title="")


def display_units(tokens: list[InspectedToken], tokenizer=None) -> list[tuple[str, int]]:
    """(text, position of its first token): tokens that share a character are shown as one.

    Bytes that never became a character (an undertrained model writes those) have no text: with
    the tokenizer they are shown by their bytes instead, so that they can be seen and selected.
    """
    units, first = [], None
    for position, token in enumerate(tokens):
        first = position if first is None else first
        if not token.joined_with_next:
            text = token.text
            if not text and tokenizer is not None:
                text = "".join(token_texts(tokenizer, [t.id for t in tokens[first:position + 1]]))
            units.append((text, first))
            first = None
    return units


def percent(probability: float) -> str:
    return f"{probability:.1%}" if probability >= 0.001 else f"{probability:.2g}"


def piece_label(text: str) -> str:
    """A token's text readable on its own (a plot label, a row of alternatives): spaces and line breaks
    made visible; a token shown by its bytes ("<0xEC 0x9D>") stays as it is."""
    if text.startswith("<0x") and text.endswith(">"):
        return text
    return text.replace(" ", "␣").translate(SHOWN_AS)


# ---------------------------------------------------------------------------------------------
# Layout and wiring (inside the Sample tab; its controls give the prompt, the settings and the run)


def build(page: Page) -> None:
    with gr.Accordion(label("inspect_title"), open=True, elem_id="inspect-section"):
        page.add("sample.inspect_button", gr.Button(label("inspect"), elem_id="inspect-button"))
        page.add("sample.inspect_note", gr.Markdown(label("inspect_help"), elem_id="inspect-note"))
        page.add("sample.tokens", gr.HighlightedText(label=label("inspect_tokens"), combine_adjacent=False,
                                                     show_inline_category=False, show_legend=False,
                                                     elem_id="inspect-tokens"))
        with gr.Row():
            page.add("sample.token_picker", gr.Dropdown([], label=label("inspect_token"), elem_id="inspect-token"))
            page.add("sample.alternative_picker", gr.Radio([], label=label("inspect_alternative"),
                                                           elem_id="inspect-alternative"))
        page.add("sample.alternatives", gr.Dataframe(interactive=False, visible=False, elem_id="inspect-alternatives"))
        page.add("sample.continue_button", gr.Button(label("inspect_continue"), size="sm",
                                                     elem_id="inspect-continue"))
        page.add("sample.inspection", gr.State(None))
    with gr.Accordion(label("score_title"), open=False, elem_id="score-section"):
        page.add("sample.score_text", gr.Textbox(label=label("score_text"), lines=4, elem_id="score-text"))
        page.add("sample.score_button", gr.Button(label("score"), size="sm", elem_id="score-button"))
        page.add("sample.scored", gr.HighlightedText(label=label("score_tokens"), combine_adjacent=False,
                                                     show_inline_category=False, elem_id="score-tokens"))
        page.add("sample.score_summary", gr.Markdown(elem_id="score-summary"))
    with gr.Accordion(label("attention_title"), open=False, elem_id="attention-section"):
        with gr.Row():
            page.add("sample.attention_button", gr.Button(label("attention"), size="sm", elem_id="attention-button"))
            page.add("sample.attention_layer", gr.Dropdown([], label=label("layer"), elem_id="attention-layer"))
            page.add("sample.attention_head", gr.Dropdown([], label=label("head"), elem_id="attention-head"))
        page.add("sample.attention_note", gr.Markdown(elem_id="attention-note"))
        page.add("sample.attention_plot", gr.Plot(show_label=False, elem_id="attention-plot"))
        page.add("sample.attention", gr.State(None))


def wire(page: Page, app, sampling_fields: tuple[str, ...], sampling_options) -> None:
    settings = [page[f"sample.{name}"] for name in sampling_fields]
    run, precision, state = page["sample.run_picker"], page["sample.precision"], page["sample.inspection"]

    def generate_token_by_token(prompt, *values, request: gr.Request = None):
        *option_values, run_name, chosen_precision = values
        options = sampling_options(**dict(zip(sampling_fields, option_values)))
        return app.inspect(prompt, options, run_name, chosen_precision, language_of(request))

    def select_token(inspection, event: gr.SelectData, request: gr.Request = None):
        # The highlighted text's index counts shown pieces; the picker holds each piece's first token.
        units = display_units(inspection.tokens) if inspection else []
        position = units[event.index][1] if 0 <= event.index < len(units) else None
        return (gr.update(value=position), *app.pick_token(inspection, position, language_of(request)))

    def pick(inspection, position, request: gr.Request = None):
        return app.pick_token(inspection, position, language_of(request))

    def choose(inspection, position, alternative, request: gr.Request = None):
        return app.choose_alternative(inspection, position, alternative, language_of(request))

    inspect_outputs = page.components_of(InspectView)
    # Gradio gives the request only to a parameter before *values: api() declares them all by name.
    page["sample.inspect_button"].click(api(generate_token_by_token, ["prompt", *sampling_fields, "run_name",
                                                                      "precision"]), [page["sample.prompt"], *settings, run, precision], inspect_outputs,
                                        api_visibility="private", concurrency_limit=4)
    page["sample.tokens"].select(select_token, state, [page["sample.token_picker"],
                                                       *page.components_of(AlternativesView)],
                                 api_visibility="private")
    page["sample.token_picker"].input(pick, [state, page["sample.token_picker"]],
                                      page.components_of(AlternativesView), api_visibility="private")
    page["sample.continue_button"].click(choose, [state, page["sample.token_picker"],
                                                  page["sample.alternative_picker"]], inspect_outputs,
                                         api_visibility="private", concurrency_limit=4)

    def score_pasted_text(text, run_name, chosen_precision, request: gr.Request = None):
        return app.score(text, run_name, chosen_precision, language_of(request))

    page["sample.score_button"].click(score_pasted_text, [page["sample.score_text"], run, precision],
                                      page.components_of(ScoreView), api_visibility="private", concurrency_limit=4)

    def show_attention(inspection, prompt, run_name, chosen_precision, request: gr.Request = None):
        return app.attention(inspection, prompt, run_name, chosen_precision, language_of(request))

    page["sample.attention_button"].click(show_attention, [state, page["sample.prompt"], run, precision],
                                          page.components_of(AttentionView), api_visibility="private")
    for picker in (page["sample.attention_layer"], page["sample.attention_head"]):
        picker.input(app.attention_plot, [page["sample.attention"], page["sample.attention_layer"],
                                          page["sample.attention_head"]], page["sample.attention_plot"],
                     api_visibility="private")

    gr.api(app.inspect_json, api_name="inspect",
           api_description="Generate and return every token with its probability and its 10 likeliest alternatives.")
    gr.api(app.score_json, api_name="score",
           api_description="The bits of each token of a text under the run's model, and its bits per byte.")
