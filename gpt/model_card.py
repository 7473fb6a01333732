"""The README.md of an exported model: Hub front matter, how it was trained, how to load it.

The Hugging Face Hub reads the YAML between the `---` lines (library, task, language) and shows
the rest as the model's page. The card is written in English, the Hub's common language, whatever
language the exporting terminal speaks. It says what the checkpoint itself records (config, step,
validation loss) and, where the data beside it is still the data it was trained on (same
tokenizer fingerprint in meta.json), where that data came from and which language it is in.
Local folders are never written into it: a card is meant to be published.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from .config import Config
from .data import DataInfo, open_tokens, read_meta
from .model import count_parameters
from .tokenizer import END_OF_TEXT

# Config fields left out of the card's table: paths on the machine that trained it.
LOCAL_FIELDS = ("train_bin", "val_bin", "tok_path", "out_dir")
# Tokens of validation data decoded to tell its language: a few pages of text.
LANGUAGE_SAMPLE_TOKENS = 20_000
# A language counts as one of the data's when at least this share of its words is written in it.
LANGUAGE_MIN_SHARE = 0.25
# The prompt of the usage snippet, by the data's main language.
EXAMPLE_PROMPTS = {"ko": "[채용공고]", "en": "Job posting:"}


def trained_data(cfg: Config, tokenizer_fingerprint: str) -> DataInfo | None:
    """What meta.json says about the data, if the data beside the checkpoint is what it was trained on."""
    info = read_meta(cfg.train_bin)
    return info if info is not None and info.tokenizer_fingerprint == tokenizer_fingerprint else None


def builtin_source_name(language: str) -> str:
    # The source name gpt.data.prepare_builtin records for a built-in corpus.
    return f"built-in job postings ({language})"


def data_languages(cfg: Config, data: DataInfo | None, tokenizer: Tokenizer) -> list[str]:
    """The languages of the training data, main one first; [] when they cannot be told.

    The built-in corpus says its own language; other text is judged by its letters, Hangul
    (Korean) against Latin (English), in a decoded slice of the validation data.
    """
    if data is None:
        return []
    if data.source == builtin_source_name(cfg.builtin_corpus):
        return [cfg.builtin_corpus]
    try:
        tokens = np.asarray(open_tokens(cfg.val_bin)[:LANGUAGE_SAMPLE_TOKENS], dtype=np.int64)
    except ValueError:  # DataError: no validation file any more
        return []
    if tokens.size == 0 or int(tokens.max()) >= tokenizer.get_vocab_size():
        return []
    return languages_of_text(tokenizer.decode(tokens.tolist()))


def languages_of_text(text: str) -> list[str]:
    """"ko" and/or "en" by the share of words in Hangul and in Latin letters, the larger first; [] for neither.

    Words, not letters, are counted: a Hangul syllable holds what takes an English word several letters.
    """
    words = [word for word in text.split() if any(character.isalpha() for character in word)]
    if not words:
        return []
    korean = sum(1 for word in words if any(_is_hangul(character) for character in word))
    english = sum(1 for word in words if any(character.isascii() and character.isalpha() for character in word)
                  and not any(_is_hangul(character) for character in word))
    counts = {"ko": korean, "en": english}
    ranked = sorted(counts, key=counts.get, reverse=True)
    return [language for language in ranked if counts[language] / len(words) >= LANGUAGE_MIN_SHARE]


def _is_hangul(character: str) -> bool:
    # Syllables, then the jamo and compatibility jamo that write Korean letter by letter.
    return "\uac00" <= character <= "\ud7a3" or "\u1100" <= character <= "\u11ff" or "\u3130" <= character <= "\u318f"


def model_card(checkpoint: dict, cfg: Config, tokenizer: Tokenizer, tokenizer_fingerprint: str, name: str) -> str:
    """The README.md of the export named `name` (its folder name)."""
    data = trained_data(cfg, tokenizer_fingerprint)
    languages = data_languages(cfg, data, tokenizer)
    step = int(checkpoint["step"])
    prompt = EXAMPLE_PROMPTS.get(languages[0] if languages else "", EXAMPLE_PROMPTS["en"])
    sections = [
        _front_matter(languages),
        f"# {name}\n\n"
        f"A small GPT-2-style language model ({count_parameters(cfg):,} parameters) trained from scratch for "
        f"{step:,} steps. It loads in Hugging Face transformers as `GPT2LMHeadModel`.",
        "## Training\n\n" + _results(checkpoint, cfg, step) + "\n\n" + _config_table(cfg),
        "## Data\n\n" + _data_description(cfg, data, languages),
        "## Tokenizer\n\n"
        f"Byte-level BPE with {tokenizer.get_vocab_size():,} tokens, trained on the same data (fingerprint "
        f"`{tokenizer_fingerprint}`): any UTF-8 text encodes without an unknown token. `{END_OF_TEXT}` "
        f"separates documents; the same characters typed in a text are ordinary text "
        f"(`split_special_tokens: true`), as they were in training.",
        "## Usage\n\n```python\n" + usage_code(name, prompt) + "\n```\n\n"
        f"The model sees at most {cfg.block_size} tokens: the prompt and the new tokens together must fit.",
    ]
    return "\n\n".join(sections) + "\n"


def _front_matter(languages: list[str]) -> str:
    lines = ["---", "library_name: transformers", "pipeline_tag: text-generation"]
    if languages:
        lines += ["language:", *(f"- {language}" for language in languages)]
    lines += ["# license: apache-2.0  # choose the license of the model and its data before publishing",
              "tags:", "- gpt2", "- text-generation", "---"]
    return "\n".join(lines)


def _results(checkpoint: dict, cfg: Config, step: int) -> str:
    val_loss, val_bpb = checkpoint.get("val_loss"), checkpoint.get("val_bpb")
    lines = [f"- Steps: {step:,}",
             f"- Tokens seen: {step * cfg.tokens_per_step:,} ({cfg.tokens_per_step:,} per step: batch_size x "
             f"block_size x grad_accum_steps)"]
    if _is_number(val_loss):
        lines.append(f"- Validation loss: {val_loss:.4f} (nats per token)")
    else:
        lines.append("- Validation loss: not evaluated before this checkpoint")
    if _is_number(val_bpb):
        lines.append(f"- Validation bits per byte: {val_bpb:.4f}")
    return "\n".join(lines)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _config_table(cfg: Config) -> str:
    rows = [f"| {field} | {value} |" for field, value in cfg.to_dict().items() if field not in LOCAL_FIELDS]
    return "\n".join(["| setting | value |", "|---|---|", *rows])


def _data_description(cfg: Config, data: DataInfo | None, languages: list[str]) -> str:
    if data is None:
        return (f"Not recorded: the data beside the checkpoint (`{Path(cfg.train_bin).name}`) is gone or was "
                f"prepared with another tokenizer.")
    described = (f"{data.source}: {data.text_bytes:,} bytes of text, {data.train_tokens:,} training and "
                 f"{data.val_tokens:,} validation tokens.")
    if languages:
        described += f" Language: {', '.join(languages)}."
    return described


def usage_code(model_id: str, prompt: str) -> str:
    """Python that loads the export and continues a prompt."""
    return "\n".join([
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'model_id = "{model_id}"  # this folder, or "<user>/{Path(model_id).name}" once uploaded to the Hub',
        "tokenizer = AutoTokenizer.from_pretrained(model_id)",
        "model = AutoModelForCausalLM.from_pretrained(model_id)",
        f'inputs = tokenizer("{prompt}", return_tensors="pt")',
        "output = model.generate(**inputs)  # sampling settings and length from generation_config.json",
        "print(tokenizer.decode(output[0], skip_special_tokens=True))",
    ])
