"""A checkpoint as a Hugging Face transformers model: GPT-2's layout, so `AutoModelForCausalLM` loads it.

Our model is GPT-2's architecture (pre-norm blocks, exact GELU, LayerNorm eps 1e-5, learned
positions, the output head tied to the token embedding), so only names and one layout differ:
GPT-2 stores its linear layers as `Conv1D`, whose weight is (in, out), the transpose of
`nn.Linear`'s. The exported folder:

    config.json              GPT2Config: the shape, the activation, the end-of-text id
    model.safetensors        the float32 weights under GPT-2's names (the tied head is not stored twice)
    generation_config.json   the checkpoint's sampling settings (temperature, top_k, length)
    tokenizer.json           our tokenizer as it is, with tokenizer_config.json and special_tokens_map.json
    README.md                the model card (gpt.model_card)

The checkpoint is loaded and its tokenizer checked exactly as for sampling (`gpt.inference.load_model`),
so what cannot be sampled cannot be exported, with the same message. The folder is built under a
temporary name beside `out_dir` and renamed into place only when complete: an interrupted export
leaves no half folder. An earlier export in `out_dir` is replaced; any other files there are never
touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

from .checkpoint import check_tokenizer, checkpoint_config, load_checkpoint, load_weights
from .config import Config
from .files import sync_folder, temporary_path, write_atomically
from .locales import Text
from .model import GPT
from .model_card import model_card
from .tokenizer import END_OF_TEXT, end_of_text_id, fingerprint, load_tokenizer

# Hugging Face's name for exact (erf) GELU, the one gpt.model.MLP uses ("gelu_new" is the tanh approximation).
ACTIVATION = "gelu"
WEIGHTS_NAME = "model.safetensors"
# Files listed when a folder is refused: enough to recognise it.
LISTED_FILES = 5


class ExportError(ValueError):
    """A folder that cannot receive an export, with the reason in plain words (a Text)."""


def export_hf(checkpoint_file: str | os.PathLike, out_dir: str | os.PathLike,
              tok_path: str | os.PathLike | None = None) -> Path:
    """Write the checkpoint as a transformers model folder at out_dir (replacing an earlier export); return it.

    Raises CheckpointError or TokenizerError as `load_model` does, ExportError for an out_dir
    that holds anything but an earlier export; nothing is written then.
    """
    out_dir = Path(out_dir).resolve()  # "." has a name to stage beside, and the card a title
    _check_destination(out_dir)
    checkpoint = load_checkpoint(checkpoint_file)
    cfg = checkpoint_config(checkpoint)
    tok_path = Path(tok_path or cfg.tok_path)
    tokenizer = load_tokenizer(tok_path)
    tokenizer_fingerprint = fingerprint(tokenizer)
    check_tokenizer(checkpoint, tokenizer_fingerprint, tok_path)
    model = GPT(cfg.replace(dropout=0.0))
    load_weights(model, checkpoint, checkpoint_file)  # bfloat16 or float16 tensors are cast into the float32 model
    model.float().eval()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = temporary_path(out_dir)
    shutil.rmtree(staging, ignore_errors=True)  # left by an export that was killed
    try:
        staging.mkdir()
        eot = end_of_text_id(tokenizer)
        _write_json(staging / "config.json", gpt2_config(model, cfg, eot))
        save_file(gpt2_weights(model), str(staging / WEIGHTS_NAME), metadata={"format": "pt"})
        _write_json(staging / "generation_config.json", generation_config(cfg, eot))
        shutil.copyfile(tok_path, staging / "tokenizer.json")
        _write_json(staging / "tokenizer_config.json", tokenizer_config(cfg))
        _write_json(staging / "special_tokens_map.json", special_tokens_map())
        card = model_card(checkpoint, cfg, tokenizer, tokenizer_fingerprint, out_dir.name)
        (staging / "README.md").write_text(card, encoding="utf-8")
        _sync_files(staging)
        _move_into_place(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def export_hf_zip(checkpoint_file: str | os.PathLike, zip_path: str | os.PathLike,
                  tok_path: str | os.PathLike | None = None) -> Path:
    """The export as one zip file (for a download button): a folder named after the zip, holding the export."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{zip_path.stem}.", dir=zip_path.parent) as scratch:
        folder = export_hf(checkpoint_file, Path(scratch) / zip_path.stem, tok_path)
        return write_atomically(zip_path, lambda file: _zip_folder(folder, file))


# ---------------------------------------------------------------------------------------------
# What goes into the folder


def gpt2_config(model: GPT, cfg: Config, end_of_text: int) -> dict:
    """config.json: what GPT2Config needs to rebuild our model."""
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": model.token_embedding.num_embeddings,
        "n_positions": cfg.block_size,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_inner": None,  # 4 * n_embd, as gpt.model.MLP
        "activation_function": ACTIVATION,
        "layer_norm_epsilon": model.ln_f.eps,
        # Our dropout acts on the embeddings and on what each layer adds, never on attention probabilities.
        "embd_pdrop": cfg.dropout,
        "resid_pdrop": cfg.dropout,
        "attn_pdrop": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": True,  # scores / sqrt(head size), as scaled_dot_product_attention
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": True,
        "bos_token_id": end_of_text,
        "eos_token_id": end_of_text,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def gpt2_weights(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under GPT-2's names, float32; linear weights transposed for Conv1D."""
    weights = {"transformer.wte.weight": _float32(model.token_embedding.weight),
               "transformer.wpe.weight": _float32(model.position_embedding.weight)}
    for index, block in enumerate(model.blocks):
        layers = {"ln_1": block.ln_1, "attn.c_attn": block.attn.qkv, "attn.c_proj": block.attn.proj,
                  "ln_2": block.ln_2, "mlp.c_fc": block.mlp.up, "mlp.c_proj": block.mlp.proj}
        for name, layer in layers.items():
            weights.update(_layer_weights(f"transformer.h.{index}.{name}", layer))
    weights.update(_layer_weights("transformer.ln_f", model.ln_f))
    # lm_head is the token embedding itself (tie_word_embeddings): transformers ties it again on loading.
    return weights


def _layer_weights(name: str, layer: nn.Linear | nn.LayerNorm) -> dict[str, torch.Tensor]:
    """weight and bias of one layer; GPT-2 has a bias everywhere, so a layer without one gets zeros."""
    if isinstance(layer, nn.Linear):
        weight, bias_size = layer.weight.t(), layer.out_features  # Conv1D: (in, out)
    else:
        weight, bias_size = layer.weight, layer.weight.numel()
    bias = layer.bias if layer.bias is not None else torch.zeros(bias_size)
    return {f"{name}.weight": _float32(weight), f"{name}.bias": _float32(bias)}


def _float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().float().contiguous()


def generation_config(cfg: Config, end_of_text: int) -> dict:
    """generation_config.json: the checkpoint's sampling settings, so `model.generate()` samples as we do."""
    options = cfg.sampling()
    settings = {"bos_token_id": end_of_text, "eos_token_id": end_of_text,
                "pad_token_id": end_of_text,  # GPT-2 has no padding token; without one generate() warns
                # Positions end at block_size: transformers cannot slide the window as gpt.generate does.
                "max_new_tokens": min(options.max_new_tokens, cfg.block_size - 1)}
    if options.temperature <= 0:  # temperature 0 is greedy (gpt.sampling.pick_next_token)
        return {**settings, "do_sample": False}
    return {**settings, "do_sample": True, "temperature": options.temperature, "top_k": options.top_k,
            "top_p": options.top_p}


def tokenizer_config(cfg: Config) -> dict:
    """tokenizer_config.json: our tokenizer.json read by PreTrainedTokenizerFast, as gpt.tokenizer reads it."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special_tokens_map(),
        "model_max_length": cfg.block_size,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        # gpt.tokenizer sets encode_special_tokens: "<|endoftext|>" typed in a text is text, not the token.
        "split_special_tokens": True,
    }


def special_tokens_map() -> dict:
    # Byte-level BPE needs no unknown token; GPT-2 names its end-of-text for every role.
    return {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "unk_token": END_OF_TEXT, "pad_token": END_OF_TEXT}


# ---------------------------------------------------------------------------------------------
# Writing the folder


def _check_destination(out_dir: Path) -> None:
    """Refuse a file, or a folder holding anything but an earlier export, before anything is read or written."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ExportError(Text("export.not_a_folder", path=str(out_dir)))
    names = sorted(entry.name for entry in out_dir.iterdir())
    if names and not is_earlier_export(out_dir):
        listed = ", ".join(names[:LISTED_FILES]) + (", ..." if len(names) > LISTED_FILES else "")
        raise ExportError(Text("export.folder_not_empty", path=str(out_dir), listed=listed))


def is_earlier_export(folder: Path) -> bool:
    """A folder with a GPT-2 config.json: an export, which a new one may replace."""
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") == "gpt2"
    except (OSError, ValueError, AttributeError):
        return False


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename the finished folder to out_dir; an earlier export is renamed aside first, then deleted."""
    old = out_dir.with_name(f".{out_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    elif out_dir.exists():
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    sync_folder(out_dir.parent)
    shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, values: dict) -> None:
    path.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _sync_files(folder: Path) -> None:
    """Flush every file and the folder itself to disk, so the rename publishes complete files."""
    for path in folder.iterdir():
        with open(path, "rb") as file:
            os.fsync(file.fileno())
    sync_folder(folder)


def _zip_folder(folder: Path, file) -> None:
    # Weights barely compress: stored as they are; the JSON and the card are deflated.
    with zipfile.ZipFile(file, "w") as archive:
        for path in sorted(folder.iterdir()):
            compression = zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
            archive.write(path, f"{folder.name}/{path.name}", compress_type=compression)
