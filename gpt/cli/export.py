"""Export a checkpoint to Hugging Face transformers: `python scripts/export_hf.py --out my-gpt` (or `gpt-export`).

`--run_name NAME` exports the named run (checkpoints/NAME/ckpt.pt), `--checkpoint FILE` any file.
The folder loads with `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained`
(GPT-2 layout, safetensors weights, our tokenizer, a model card); an earlier export there is replaced.
"""

from __future__ import annotations

import argparse

from ..config import Config
from ..export import ExportError, export_hf
from ..model_card import EXAMPLE_PROMPTS, usage_code
from ..run import Run
from ..run_setup import USER_ERRORS
from . import LANGUAGE, fail, say


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run_name", default="",
                        help="the run to export: checkpoints/RUN_NAME/ckpt.pt (default: checkpoints/ckpt.pt)")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint file to export instead of the run's")
    parser.add_argument("--tok_path", default=None, help="default: the tokenizer the checkpoint was trained with")
    parser.add_argument("--out", required=True, help="the folder to write (new, empty, or an earlier export)")
    args = parser.parse_args(argv)
    try:
        checkpoint = args.checkpoint or str(Run.of(Config(run_name=args.run_name)).checkpoint)
        folder = export_hf(checkpoint, args.out, args.tok_path)
    except (*USER_ERRORS, ExportError) as error:  # a checkpoint that cannot be used, a folder of other files
        fail(error)
    print(say("export.wrote", checkpoint=checkpoint, folder=str(folder)))
    print(say("export.load_with"))
    # The model card's prompt follows the data's language; here the terminal's language stands in for it.
    print(usage_code(str(folder), EXAMPLE_PROMPTS.get(LANGUAGE, EXAMPLE_PROMPTS["en"])))
    return 0
