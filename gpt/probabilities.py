"""What the model thought at each token: the probabilities behind a generated text, and what a text costs it.

Inspecting a generation runs the one sampling loop (`gpt.generate.generate_steps`), so the same
seed and settings give exactly the tokens `generate` gives, and describes each token with two
numbers: `raw_prob`, the model's own softmax of its logits, and `prob`, what the sampler gave the
token after temperature, top-k and top-p (0 for a token the settings cut, 1 for the argmax when
greedy). Beside it stand the likeliest alternatives; picking one continues the text from there
with that token forced (`continue_with`).

Scoring runs the other way: a given text, and how many bits each of its tokens cost the model
(-log2 of the probability it gave that token after the ones before it). Bits per byte of text
compare across tokenizers, like the validation bits per byte of training.

Byte-level BPE can end a token inside a Korean syllable. Texts are never shown broken: a token
that ends inside a character is merged with the next ones (`gpt.text.token_pieces`), the group's
text sits on its last token and the others have text "" and `joined_with_next`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from .device import autocast
from .generate import GenerationStep, generate_steps
from .model import GPT
from .sampling import SamplingOptions, next_token_distribution
from .text import INVISIBLE_CONTROLS, token_bytes_table, token_pieces
from .tokenizer import END_OF_TEXT, end_of_text_id

ALTERNATIVES = 10  # shown at each position, the likeliest first


@dataclass(frozen=True)
class Alternative:
    """A token the model could have written at a position."""

    id: int
    text: str  # the token on its own; bytes in hex where it is not whole characters ("<0xEC 0x9D>")
    prob: float  # what the sampler gave it, after the sampling settings
    raw_prob: float  # the model's own softmax, before them


@dataclass(frozen=True)
class InspectedToken:
    """A generated token, how likely it was, and what else the model considered there."""

    id: int
    text: str  # "" when the token ends inside a character: its group's text is on the group's last token
    prob: float
    raw_prob: float
    alternatives: tuple[Alternative, ...]  # sorted by raw_prob, highest first
    joined_with_next: bool


# ---------------------------------------------------------------------------------------------
# A generation, token by token


def inspect_generation(model: GPT, tokenizer: Tokenizer, prompt_ids: list[int], options: SamplingOptions,
                       generator: torch.Generator | None = None,
                       dtype: torch.dtype = torch.float32) -> list[InspectedToken]:
    """Generate as `gpt.generate.generate` does (same ids for the same generator state) and describe every token."""
    names = _TokenNames(tokenizer)
    described = [_inspected(step, options, names) for step in generate_steps(model, prompt_ids, options, generator,
                                                                                dtype=dtype)]
    return _with_piece_texts(tokenizer, described)


def forced_prompt(prompt_ids: list[int], inspected: Sequence[InspectedToken], position: int,
                  alternative_id: int) -> list[int]:
    """What to continue from when `alternative_id` replaces the token at `position`: the prompt, the
    tokens generated before that position, and the alternative."""
    _check_position(inspected, position)
    return [*prompt_ids, *(token.id for token in inspected[:position]), alternative_id]


def continue_with(model: GPT, tokenizer: Tokenizer, prompt_ids: list[int], inspected: Sequence[InspectedToken],
                  position: int, alternative_id: int, options: SamplingOptions, seed: int | None,
                  dtype: torch.dtype = torch.float32) -> list[InspectedToken]:
    """The text after the prompt, rewritten from `position` with `alternative_id` forced there.

    Returns the tokens kept before `position`, the forced one (with the probabilities it had at that
    position), then options.max_new_tokens new ones, drawn as `inspect_generation` would from the
    forced prompt with a generator seeded by `seed` (a new random one for None). The forced token
    must be the one generated there or one of its alternatives.
    """
    _check_position(inspected, position)
    original = inspected[position]
    offered = {original.id: (original.prob, original.raw_prob)}
    offered.update({alternative.id: (alternative.prob, alternative.raw_prob) for alternative in original.alternatives})
    if alternative_id not in offered:
        raise ValueError(f"token {alternative_id} is not among the alternatives at position {position}")
    prob, raw_prob = offered[alternative_id]
    forced = InspectedToken(alternative_id, "", prob, raw_prob, original.alternatives, False)
    generator = torch.Generator(device=next(model.parameters()).device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    continuation = inspect_generation(model, tokenizer, forced_prompt(prompt_ids, inspected, position, alternative_id),
                                      options, generator, dtype)
    # Texts are merged again over the whole list: the forced token may end inside a character.
    return _with_piece_texts(tokenizer, [*inspected[:position], forced, *continuation])


def to_json(inspected: Sequence[InspectedToken]) -> list[dict]:
    """Plain lists and dicts (for an API or a page's script)."""
    return [
        {"text": token.text, "id": token.id, "prob": token.prob, "raw_prob": token.raw_prob,
         "alternatives": [{"text": alternative.text, "id": alternative.id, "prob": alternative.prob,
                           "raw_prob": alternative.raw_prob} for alternative in token.alternatives],
         "joined_with_next": token.joined_with_next}
        for token in inspected
    ]


def token_texts(tokenizer: Tokenizer, ids: Sequence[int]) -> list[str]:
    """Each token's text on its own (labels of a plot): bytes in hex where it is not whole characters."""
    names = _TokenNames(tokenizer)
    return [names.text(token_id) for token_id in ids]


def _inspected(step: GenerationStep, options: SamplingOptions, names: "_TokenNames") -> InspectedToken:
    """One step described; its text is filled in later, once the whole sequence is known."""
    raw = step.logits.float().softmax(dim=-1)  # (V,)
    if options.temperature <= 0:
        sampled = torch.zeros_like(raw)
        sampled[step.token_id] = 1.0  # greedy: the argmax is certain
    else:
        probabilities, candidate_ids = next_token_distribution(step.logits[None], options)
        sampled = probabilities[0] if candidate_ids is None else \
            torch.zeros_like(raw).scatter(0, candidate_ids[0], probabilities[0])
    # The settings keep the order of the raw probabilities, so the likeliest raw are the likeliest sampled too.
    raw_best, best_ids = raw.topk(min(ALTERNATIVES, raw.numel()))
    alternatives = tuple(Alternative(token_id, names.text(token_id), prob, raw_prob) for token_id, prob, raw_prob
                         in zip(best_ids.tolist(), sampled[best_ids].tolist(), raw_best.tolist()))
    return InspectedToken(step.token_id, "", float(sampled[step.token_id]), float(raw[step.token_id]), alternatives,
                          False)


def _check_position(inspected: Sequence[InspectedToken], position: int) -> None:
    if not 0 <= position < len(inspected):
        raise ValueError(f"position {position} is outside the {len(inspected)} generated tokens")


class _TokenNames:
    """Readable text of single tokens, from one table of their bytes."""

    def __init__(self, tokenizer: Tokenizer):
        self.token_bytes = token_bytes_table(tokenizer)
        self.end_of_text = end_of_text_id(tokenizer)

    def text(self, token_id: int) -> str:
        if token_id == self.end_of_text:
            return END_OF_TEXT
        raw = self.token_bytes[token_id]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # part of a character
        if text is None or text != text.translate(INVISIBLE_CONTROLS):
            # A broken character or a control code would show as nothing, or as a mark: show the bytes.
            return "<" + " ".join(f"0x{byte:02X}" for byte in raw) + ">"
        return text


def _with_piece_texts(tokenizer: Tokenizer, tokens: list) -> list:
    """The tokens (InspectedToken or ScoredToken) with the text of their piece on each piece's last token,
    "" and joined_with_next on the others."""
    pieces = token_pieces(tokenizer, [token.id for token in tokens])
    result, index = [], 0
    for piece in pieces:
        for offset in range(len(piece.ids)):
            last = offset == len(piece.ids) - 1
            text = piece.text if last else ""
            result.append(dataclasses.replace(tokens[index], text=text, joined_with_next=not last))
            index += 1
    return result


# ---------------------------------------------------------------------------------------------
# A given text, and how many bits each token cost the model


@dataclass(frozen=True)
class ScoredToken:
    id: int
    text: str  # merged as in InspectedToken
    bits: float  # -log2 of the probability the model gave this token after the ones before it
    joined_with_next: bool


@dataclass(frozen=True)
class Score:
    tokens: list[ScoredToken]
    total_bits: float
    bytes: int  # of the text in UTF-8
    bits_per_byte: float


@dataclass(frozen=True)
class Surprise:
    """A piece of text (one token, or tokens sharing a character) and the bits all of it cost."""

    text: str
    bits: float
    positions: range  # of its tokens in Score.tokens


def score_ids(model: GPT, ids: Sequence[int], dtype: torch.dtype = torch.float32) -> list[float]:
    """Bits of each of ids[1:] given the ids before it (the first id is context only).

    Up to block_size + 1 ids are scored in one window. Longer sequences are scored in windows of
    block_size that overlap by half a block, each token scored once: in the first window with
    whatever precedes it, after that with at least block_size/2 tokens of context (a window that
    started at the token would see nothing before it, and score it as if a document began there).
    """
    if len(ids) < 2:
        raise ValueError("scoring needs at least two ids: a context and a token")
    block_size = model.cfg.block_size
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    bits = []
    try:
        for start, first_scored in _windows(len(ids), block_size):
            window = torch.tensor([ids[start:start + block_size + 1]], dtype=torch.long, device=device)
            inputs, targets = window[:, :-1], window[:, 1:]
            with torch.inference_mode(), autocast(device, dtype):
                logits, _ = model(inputs, targets)  # (1, T, V)
            nats = F.cross_entropy(logits[0].float(), targets[0], reduction="none")  # (T,)
            bits.extend((nats[first_scored - start - 1:] / math.log(2)).tolist())
    finally:
        model.train(was_training)
    return bits


def score_text(model: GPT, tokenizer: Tokenizer, text: str, dtype: torch.dtype = torch.float32) -> Score:
    """Bits of every token of `text`, scored as a document of its own (after an end-of-text token)."""
    text_ids = tokenizer.encode(text).ids
    if not text_ids:
        raise ValueError("there is no text to score")
    bits = score_ids(model, [end_of_text_id(tokenizer), *text_ids], dtype)
    tokens = _with_piece_texts(tokenizer, [ScoredToken(token_id, "", token_bits, False)
                                           for token_id, token_bits in zip(text_ids, bits)])
    total_bits = sum(bits)
    size = len(text.encode("utf-8"))
    return Score(tokens, total_bits, size, total_bits / size)


def most_surprising(score: Score, n: int = 10) -> list[Surprise]:
    """The n pieces of text that cost the most bits, the costliest first."""
    pieces, first = [], 0
    for index, token in enumerate(score.tokens):
        if not token.joined_with_next:
            positions = range(first, index + 1)
            pieces.append(Surprise(token.text, sum(score.tokens[i].bits for i in positions), positions))
            first = index + 1
    return sorted(pieces, key=lambda piece: piece.bits, reverse=True)[:n]


def _windows(count: int, block_size: int):
    """(start, first target) of each window over `count` ids: a window holds ids[start:start + block_size + 1]
    and scores the targets from `first target` to its end (the ones before were scored already)."""
    half = max(block_size // 2, 1)
    start, scored_up_to = 0, 0  # targets 1 .. scored_up_to are done
    while scored_up_to < count - 1:
        start = min(start, max(count - 1 - block_size, 0))  # the last window ends at the last id and is full
        yield start, scored_up_to + 1
        scored_up_to = min(start + block_size, count - 1)
        start += half
