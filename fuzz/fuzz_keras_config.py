"""Atheris harness -- Keras config walk: modelxray.analysis.keras_config.judge_config (reported by
modelxray.formats.keras_findings.report_config) on parsed JSON.

Run: python fuzz/fuzz_keras_config.py CORPUS_DIR -timeout=30 -rss_limit_mb=2048
(see fuzz/README.md; fuzz/run.py runs them all).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz._harness import main  # noqa: E402

if __name__ == "__main__":
    main("keras_config")
