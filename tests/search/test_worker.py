"""Worker start-up: TensorFlow's import notices stay off the console, other output does not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tf

SCRIPT = """
import os, sys
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
{body}
os.write(2, b"after the import\\n")
"""


def _stderr(body: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}  # as in a worker
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(body=body)], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return proc.stderr


def test_tensorflow_start_up_notices_are_filtered_and_other_stderr_kept():
    plain = _stderr("import tensorflow")
    # what the filter is for: the notice ignores TensorFlow's log level
    assert "oneDNN custom operations are on" in plain
    quiet = _stderr("from evoapproxnas.search.worker import _import_tensorflow_quietly\n"
                    "tf = _import_tensorflow_quietly()\n"
                    "print('not a notice', file=sys.stderr)")
    assert "oneDNN" not in quiet and "InitializeLog" not in quiet
    assert quiet.splitlines() == ["not a notice", "after the import"]
