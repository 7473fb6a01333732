"""Prepare training data: `python scripts/prepare_data.py --input my.txt [more.txt ...] [--vocab_size N]`.

The program itself is `gpt/cli/prepare.py` (installed as `gpt-prepare`); this file runs it from a clone.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.cli.prepare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
