"""Export a checkpoint to Hugging Face transformers: `python scripts/export_hf.py --out my-gpt`.

The program itself is `gpt/cli/export.py` (installed as `gpt-export`); this file runs it from a clone.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.cli.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
