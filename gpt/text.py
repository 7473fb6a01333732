"""Token ids back to text a person can read, never half a character.

Byte-level BPE can split a Korean syllable (3 bytes) across tokens. `TextStream` turns a stream of
ids into text pieces, holding back the bytes of an unfinished character until its last byte
arrives; `token_pieces` cuts a whole sequence into readable pieces, merging tokens that share a
character (the Data tab's preview, the token view of a sample).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from tokenizers import Tokenizer

from .tokenizer import END_OF_TEXT, end_of_text_id

# Where one document ends and the next begins, as a reader sees it: a rule on a line of its own
# (the token's own name, <|endoftext|>, read like text the model wrote).
DOCUMENT_BREAK = "\n\n" + "─" * 20 + "\n\n"

# Control characters other than newline and tab (NUL, escape, carriage return, ...): an undertrained
# model emits them, and a terminal or text box would act on them instead of showing them.
INVISIBLE_CONTROLS = {code: None for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(code) not in "\n\t"}


class TextStream:
    """Turn token ids into text pieces, never emitting half of a multi-byte character.

    Tokens are turned back into their bytes and fed to an incremental UTF-8 decoder, which holds
    an unfinished character until its last byte arrives. Bytes that can never form a character
    (an untrained model emits those) are dropped rather than shown as a replacement mark, and so
    are control characters other than newline and tab. The end-of-text token between documents
    becomes `document_break`.
    """

    def __init__(self, tokenizer: Tokenizer, document_break: str = DOCUMENT_BREAK):
        self.token_bytes = token_bytes_table(tokenizer)
        self.end_of_text = end_of_text_id(tokenizer)
        self.document_break = document_break
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")

    def push(self, token_id: int) -> str:
        if token_id == self.end_of_text:
            return self.flush() + self.document_break
        return self.decoder.decode(self.token_bytes[token_id]).translate(INVISIBLE_CONTROLS)

    def flush(self) -> str:
        return self.decoder.decode(b"", final=True).translate(INVISIBLE_CONTROLS)


@dataclass(frozen=True)
class Piece:
    """Readable text made of one token, or of several that share a character (their ids in order)."""

    text: str
    ids: tuple[int, ...]


def token_pieces(tokenizer: Tokenizer, ids: list[int]) -> list[Piece]:
    """The ids cut into pieces of whole characters: a token that ends inside a character is merged
    with the next ones until the character is complete. The end-of-text token is a piece of its own.

    An incremental UTF-8 decoder tells where a character is complete; bytes that can never form
    one (an undertrained model emits those) are dropped, so they cannot swallow the rest of the
    text, and control characters other than newline and tab are dropped as in TextStream.
    """
    table = token_bytes_table(tokenizer)
    end_of_text = end_of_text_id(tokenizer)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    pieces, text, pending_ids = [], "", []
    for token_id in ids:
        if token_id == end_of_text:
            if pending_ids:
                text += decoder.decode(b"", final=True)
                pieces.append(Piece(text.translate(INVISIBLE_CONTROLS), tuple(pending_ids)))
                text, pending_ids = "", []
            decoder.reset()
            pieces.append(Piece(END_OF_TEXT, (token_id,)))
            continue
        text += decoder.decode(table[token_id])
        pending_ids.append(token_id)
        if decoder.getstate()[0] == b"":  # no character left unfinished: the piece ends here
            pieces.append(Piece(text.translate(INVISIBLE_CONTROLS), tuple(pending_ids)))
            text, pending_ids = "", []
    if pending_ids:  # bytes that never became a character
        text += decoder.decode(b"", final=True)
        pieces.append(Piece(text.translate(INVISIBLE_CONTROLS), tuple(pending_ids)))
    return pieces


def token_bytes_table(tokenizer: Tokenizer) -> list[bytes]:
    """The bytes each token id stands for, from byte-level BPE's printable stand-ins for bytes."""
    byte_of_character = {character: byte for byte, character in enumerate(_byte_level_alphabet())}
    table = [b""] * tokenizer.get_vocab_size()
    for token, token_id in tokenizer.get_vocab().items():
        if token_id != end_of_text_id(tokenizer):
            table[token_id] = bytes(byte_of_character[character] for character in token)
    return table


def _byte_level_alphabet() -> list[str]:
    """GPT-2's mapping: printable bytes stand for themselves, the other 68 are shifted past 255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    characters, shifted = [], 0
    for byte in range(256):
        if byte in printable:
            characters.append(chr(byte))
        else:
            characters.append(chr(256 + shifted))
            shifted += 1
    return characters
