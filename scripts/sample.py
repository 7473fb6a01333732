"""Sample from the latest checkpoint: `python scripts/sample.py --prompt "[채용공고]"`.

The program itself is `gpt/cli/sample.py` (installed as `gpt-sample`); this file runs it from a clone.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.cli.sample import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
