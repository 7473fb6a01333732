"""Train a GPT from the command line: `python scripts/train_gpt.py [--max_steps 300 --n_layer 4 ...]`.

The program itself is `gpt/cli/train.py` (installed as `gpt-train`); this file runs it from a clone.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
