"""Export to Hugging Face transformers: the exported model computes what ours does, refusals leave nothing behind.

transformers is a test requirement only; it loads the exported folder from disk, never from the Hub
(HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE), and is imported after those are set.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from safetensors.torch import load_file

from gpt.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gpt.cli.export import main
from gpt.export import ExportError, export_hf, export_hf_zip
from gpt.generate import generate
from gpt.inference import load_model
from gpt.locales import TABLES, Text
from gpt.model_card import languages_of_text
from gpt.sampling import SamplingOptions
from gpt.tokenizer import END_OF_TEXT, TokenizerError, end_of_text_id, save_tokenizer, train_tokenizer

from conftest import make_text

KOREAN = "채용 공고: 백엔드 개발자 경력 3년 이상, 서울 근무"
ENGLISH = "We build a great product with a small team"
EMOJI = "remote 🚀 team 👩‍💻 ✨ 재택 😀"
GREEDY_TOKENS = 50
# Prompts short enough that 50 more tokens fit in the trained model's block_size (64).
SHORT_PROMPTS = ["채용 공고 개발자", "We build a product"]


class WritesAFile:
    """Unpickling this runs code: it writes the marker file (as in test_checkpoint)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The trained tiny model exported once: (config, checkpoint, folder). Treat it as read-only."""
    config, checkpoint = trained
    return config, checkpoint, export_hf(checkpoint, tmp_path_factory.mktemp("export") / "tiny-gpt")


@pytest.fixture(scope="module")
def ours(trained):
    """Our model as sampling loads it, in float32 (exact)."""
    return load_model(trained[1], precision="float32")


@pytest.fixture(scope="module")
def random_weights(trained, tmp_path_factory):
    """The trained checkpoint with large random weights instead (std 0.5), exported: (checkpoint, folder).

    Every part of the model then moves the logits a lot, so a layout or setting that differs shows.
    """
    checkpoint = load_checkpoint(trained[1])
    generator = torch.Generator().manual_seed(0)
    checkpoint["model"] = {name: torch.randn(tensor.shape, generator=generator) * 0.5
                           for name, tensor in checkpoint["model"].items()}
    checkpoint["model"]["lm_head.weight"] = checkpoint["model"]["token_embedding.weight"]  # tied
    folder = tmp_path_factory.mktemp("random")
    checkpoint_file = save_checkpoint(folder / "random.pt", **checkpoint)
    return checkpoint_file, export_hf(checkpoint_file, folder / "out")


def hugging_face(folder):
    from transformers.utils import is_torch_available

    if not is_torch_available():  # transformers 5 takes torch 2.6 and newer; the export itself needs neither
        pytest.skip(f"this transformers cannot load models with torch {torch.__version__}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def everything_in(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# ---------------------------------------------------------------------------------------------
# The exported model is ours


@pytest.mark.parametrize("prompt", [KOREAN, ENGLISH])
def test_logits_match_ours(exported, ours, prompt):
    model, _ = hugging_face(exported[2])
    ids = torch.tensor([ours.tokenizer.encode(prompt).ids])
    with torch.no_grad():
        our_logits, _ = ours.model(ids, ids)  # with targets: the logits of every position
        their_logits = model(ids).logits
    assert their_logits.shape == our_logits.shape == (1, ids.size(1), ours.model.cfg.vocab_size)
    torch.testing.assert_close(their_logits, our_logits, atol=1e-4, rtol=0)


def test_logits_match_ours_with_large_random_weights(random_weights):
    """The trained tiny model barely reaches where tanh-approximated GELU or another LayerNorm eps differ: this does."""
    checkpoint_file, folder = random_weights
    model, _ = hugging_face(folder)
    ours = load_model(checkpoint_file, precision="float32")
    ids = torch.tensor([ours.tokenizer.encode(KOREAN + " " + ENGLISH).ids])
    with torch.no_grad():
        our_logits, _ = ours.model(ids, ids)
        their_logits = model(ids).logits
    torch.testing.assert_close(their_logits, our_logits, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("weights", ["trained", "random"])
@pytest.mark.parametrize("prompt", SHORT_PROMPTS)
def test_greedy_generation_gives_our_ids(exported, random_weights, prompt, weights):
    checkpoint_file, folder = (exported[1], exported[2]) if weights == "trained" else random_weights
    model, _ = hugging_face(folder)
    ours = load_model(checkpoint_file, precision="float32")
    ids = ours.tokenizer.encode(prompt).ids
    # transformers cannot slide the window past block_size as gpt.generate does: everything must fit.
    assert len(ids) + GREEDY_TOKENS <= ours.model.cfg.block_size
    our_ids = list(generate(ours.model, ids, SamplingOptions(temperature=0, max_new_tokens=GREEDY_TOKENS)))
    inputs = torch.tensor([ids])
    # No eos: ours does not stop at end-of-text either (min_new_tokens would forbid it instead).
    output = model.generate(inputs, attention_mask=torch.ones_like(inputs), do_sample=False,
                            max_new_tokens=GREEDY_TOKENS, eos_token_id=None, pad_token_id=0,
                            return_dict_in_generate=True, output_logits=True)
    assert output.sequences[0, len(ids):].tolist() == our_ids
    assert len(our_ids) == GREEDY_TOKENS
    # Greedy text of these tiny models soon repeats a token or two, so the ids alone say little about the
    # cache: every step's logits must be our model's, run on the whole sequence at once.
    sequence = output.sequences[:, :-1]
    with torch.no_grad():
        our_logits = ours.model(sequence, sequence)[0][0, len(ids) - 1:]
    torch.testing.assert_close(torch.cat(output.logits), our_logits, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("text", [KOREAN, ENGLISH, EMOJI, f"first{END_OF_TEXT}second", END_OF_TEXT])
def test_the_tokenizer_round_trip_is_ours(exported, ours, text):
    _, tokenizer = hugging_face(exported[2])
    our_ids = ours.tokenizer.encode(text).ids
    their_ids = tokenizer(text)["input_ids"]
    assert their_ids == our_ids
    assert tokenizer.decode(their_ids) == ours.tokenizer.decode(our_ids) == text
    if END_OF_TEXT in text:  # typed in a text it is text, as in training: never the separator token
        assert end_of_text_id(ours.tokenizer) not in their_ids


def test_the_tokenizer_knows_our_special_token_and_window(exported, ours):
    _, tokenizer = hugging_face(exported[2])
    eot = end_of_text_id(ours.tokenizer)
    assert tokenizer.eos_token == tokenizer.bos_token == END_OF_TEXT
    assert tokenizer.eos_token_id == tokenizer.bos_token_id == eot
    assert tokenizer.model_max_length == ours.model.cfg.block_size


def test_config_and_generation_settings(exported, ours):
    config, _, folder = exported
    gpt2 = json.loads((folder / "config.json").read_text())
    assert gpt2["model_type"] == "gpt2" and gpt2["architectures"] == ["GPT2LMHeadModel"]
    assert (gpt2["n_positions"], gpt2["n_embd"], gpt2["n_layer"], gpt2["n_head"], gpt2["vocab_size"]) == (
        config.block_size, config.n_embd, config.n_layer, config.n_head, config.vocab_size)
    assert gpt2["activation_function"] == "gelu" and gpt2["layer_norm_epsilon"] == 1e-5
    assert gpt2["tie_word_embeddings"] is True
    assert gpt2["eos_token_id"] == gpt2["bos_token_id"] == end_of_text_id(ours.tokenizer)
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["do_sample"] is True
    assert (generation["temperature"], generation["top_k"]) == (config.temperature, config.top_k) == (0.9, 50)
    assert generation["max_new_tokens"] == config.sample_max_new_tokens
    weights = load_file(folder / "model.safetensors")
    assert "lm_head.weight" not in weights  # tied: transformers ties it again
    assert all(tensor.dtype == torch.float32 for tensor in weights.values())


def test_the_model_card_says_how_it_was_trained(exported):
    config, checkpoint_file, folder = exported
    checkpoint = load_checkpoint(checkpoint_file)
    card = (folder / "README.md").read_text(encoding="utf-8")
    front_matter = card.split("---\n")[1]
    assert "library_name: transformers\n" in front_matter and "pipeline_tag: text-generation\n" in front_matter
    assert "# license:" in front_matter  # left for the user to choose
    # The test data is half English, half Korean (by lines): both are named.
    assert "language:\n" in front_matter and "- en\n" in front_matter and "- ko\n" in front_matter
    step = checkpoint["step"]
    assert f"- Steps: {step:,}" in card
    assert f"- Tokens seen: {step * config.tokens_per_step:,}" in card
    assert f"- Validation loss: {checkpoint['val_loss']:.4f}" in card
    assert f"- Validation bits per byte: {checkpoint['val_bpb']:.4f}" in card
    assert f"| n_embd | {config.n_embd} |" in card
    assert "mixed.txt" in card  # where the data came from (meta.json)
    assert config.out_dir not in card and "train_bin" not in card  # no local paths in a card meant to be published
    assert "AutoModelForCausalLM.from_pretrained" in card


def test_languages_are_told_by_their_letters():
    assert languages_of_text("채용 공고 백엔드 개발자 Python 우대") == ["ko"]
    assert languages_of_text("We are hiring a senior engineer, 서울") == ["en"]
    assert languages_of_text("서울 본사 백엔드 개발자 hiring engineers") == ["ko", "en"]
    assert languages_of_text("12345 🚀 ...") == []


def test_bfloat16_weights_are_exported_as_float32(trained, tmp_path):
    checkpoint = load_checkpoint(trained[1])
    checkpoint["model"] = {name: tensor.to(torch.bfloat16) for name, tensor in checkpoint["model"].items()}
    bf16_file = save_checkpoint(tmp_path / "bf16.pt", **checkpoint)
    weights = load_file(export_hf(bf16_file, tmp_path / "out") / "model.safetensors")
    assert weights and all(tensor.dtype == torch.float32 for tensor in weights.values())
    saved = checkpoint["model"]
    assert torch.equal(weights["transformer.wte.weight"], saved["token_embedding.weight"].float())
    # Conv1D holds a linear layer's weight transposed: (in, out).
    assert torch.equal(weights["transformer.h.1.attn.c_attn.weight"], saved["blocks.1.attn.qkv.weight"].float().t())
    assert torch.equal(weights["transformer.h.0.mlp.c_proj.bias"], saved["blocks.0.mlp.proj.bias"].float())


# ---------------------------------------------------------------------------------------------
# What is refused, and what is left behind


def refusal(export, load) -> tuple[Exception, Exception]:
    with pytest.raises((CheckpointError, TokenizerError)) as exported:
        export()
    with pytest.raises((CheckpointError, TokenizerError)) as loaded:
        load()
    return exported.value, loaded.value


def test_a_corrupt_checkpoint_is_refused_as_the_loader_refuses_it(trained, tmp_path):
    good = trained[1].read_bytes()
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good[: len(good) // 2])
    out = tmp_path / "exports" / "out"
    before = everything_in(tmp_path)
    error, loader_error = refusal(lambda: export_hf(corrupt, out), lambda: load_model(corrupt))
    assert isinstance(error, CheckpointError) and isinstance(error.args[0], Text)
    assert str(error) == str(loader_error) and "truncated or corrupt" in str(error)
    assert everything_in(tmp_path) == before  # no out folder, no temporary folder, not even its parent


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_that_runs_code_is_refused_and_runs_nothing(trained, tmp_path):
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pt"
    torch.save({**load_checkpoint(trained[1]), "extra": WritesAFile(marker)}, evil)
    out = tmp_path / "out"
    before = everything_in(tmp_path)
    error, loader_error = refusal(lambda: export_hf(evil, out), lambda: load_model(evil))
    assert str(error) == str(loader_error) and "could run code" in str(error)
    assert not marker.exists()
    assert everything_in(tmp_path) == before


def test_a_checkpoint_of_another_tokenizer_is_refused(trained, tmp_path):
    other = train_tokenizer([make_text(30_000, seed=42)], 600)
    other_path = tmp_path / "other.json"
    save_tokenizer(other, other_path)
    out = tmp_path / "out"
    before = everything_in(tmp_path)
    error, loader_error = refusal(lambda: export_hf(trained[1], out, other_path),
                                  lambda: load_model(trained[1], other_path))
    assert str(error) == str(loader_error) and "different tokenizer" in str(error)
    assert isinstance(error.args[0], Text) and error.args[0].key == "checkpoint.other_tokenizer"
    assert everything_in(tmp_path) == before


def test_an_earlier_export_is_replaced(exported, tmp_path):
    _, checkpoint, _ = exported
    out = export_hf(checkpoint, tmp_path / "out")
    (out / "README.md").write_text("edited by hand")
    (out / "notes.txt").write_text("written beside the export")
    assert export_hf(checkpoint, tmp_path / "out") == out
    assert "library_name: transformers" in (out / "README.md").read_text(encoding="utf-8")
    assert not (out / "notes.txt").exists()  # the folder is the new export, whole
    assert everything_in(tmp_path) == sorted(["out", *(f"out/{name}" for name in everything_in(out))])
    hugging_face(out)  # and it loads


def test_an_empty_folder_receives_the_export(exported, tmp_path):
    (tmp_path / "out").mkdir()
    assert (export_hf(exported[1], tmp_path / "out") / "model.safetensors").is_file()


def test_a_folder_of_other_files_is_refused_and_left_as_it_was(exported, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "config.json").write_text(json.dumps({"model_type": "llama"}))  # a model, but not an export of ours
    before = everything_in(tmp_path)
    with pytest.raises(ExportError) as raised:
        export_hf(exported[1], out)
    assert isinstance(raised.value.args[0], Text) and raised.value.args[0].key == "export.folder_not_empty"
    assert str(out) in str(raised.value) and "notes.txt" in str(raised.value)
    assert everything_in(tmp_path) == before
    assert (out / "notes.txt").read_text() == "my notes"


def test_a_file_is_not_a_folder_to_export_to(exported, tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file")
    with pytest.raises(ExportError) as raised:
        export_hf(exported[1], target)
    assert raised.value.args[0].key == "export.not_a_folder"
    assert target.read_text() == "a file"


def test_the_zip_holds_a_folder_that_loads(exported, tmp_path):
    zip_path = export_hf_zip(exported[1], tmp_path / "downloads" / "tiny-gpt.zip")
    assert everything_in(tmp_path / "downloads") == ["tiny-gpt.zip"]  # no scratch folder left
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unzipped")
    assert sorted(names) == sorted(f"tiny-gpt/{name}" for name in everything_in(exported[2]))
    model, tokenizer = hugging_face(tmp_path / "unzipped" / "tiny-gpt")
    assert tokenizer(ENGLISH)["input_ids"]


# ---------------------------------------------------------------------------------------------
# The command line


def test_the_cli_exports_a_run(exported, tmp_path, capsys):
    run_folder = tmp_path / "checkpoints" / "tiny"
    run_folder.mkdir(parents=True)
    (run_folder / "ckpt.pt").write_bytes(exported[1].read_bytes())
    assert main(["--run_name", "tiny", "--out", "hf/tiny"]) == 0
    out = tmp_path / "hf" / "tiny"
    assert sorted(path.name for path in out.iterdir()) == sorted(path.name for path in exported[2].iterdir())
    printed = capsys.readouterr().out
    assert str(out) in printed and f'AutoModelForCausalLM.from_pretrained(model_id)' in printed
    hugging_face(out)


def test_the_cli_says_why_a_checkpoint_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--checkpoint", "nowhere/ckpt.pt", "--out", "hf"])
    assert raised.value.code != 0
    assert "no checkpoint at nowhere/ckpt.pt" in capsys.readouterr().err
    assert not (tmp_path / "hf").exists()


def test_the_cli_refuses_a_folder_of_other_files(exported, tmp_path, capsys):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "notes.txt").write_text("my notes")
    with pytest.raises(SystemExit) as raised:
        main(["--checkpoint", str(exported[1]), "--out", "hf"])
    assert raised.value.code != 0
    assert "the folder holds other files (notes.txt)" in capsys.readouterr().err


def test_every_export_message_is_in_every_language():
    english = {key for key in TABLES["en"] if key.startswith("export.")}
    assert english == {"export.not_a_folder", "export.folder_not_empty", "export.wrote", "export.load_with"}
    for language, table in TABLES.items():
        assert {key for key in table if key.startswith("export.")} == english, language
    assert set(TABLES["en"]) == set(TABLES["ko"])
