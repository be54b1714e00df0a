"""Helpers of the tiny real campaigns' tests (test_campaign*.py): the campaign file, the CLI
in a subprocess under chosen float kernels, and what two runs must agree on."""

import json
import subprocess
import sys
from pathlib import Path

from evoapproxnas.search.study.archive import read_records

from ..conftest import float_kernel_env

TINY = Path(__file__).parent / "tiny.toml"


def kernel_env(kernels: str) -> dict[str, str]:
    """The environment of a campaign whose TensorFlow processes run ``kernels``' float
    kernels (tests/conftest.py)."""
    return {**float_kernel_env(kernels), "TF_CPP_MIN_LOG_LEVEL": "3"}


ENV = kernel_env("eigen")  # the campaigns' default here, whatever the suite's process has


def cli(*argv, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evoapproxnas", *map(str, argv)],
                            env=ENV if env is None else env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return out


def comparable(run_dir: Path):
    records = sorted((r.without_timings() for r in read_records(run_dir / "archive.jsonl")),
                     key=lambda r: r["hash"])
    front = json.loads((run_dir / "front.json").read_text())
    members = [{k: v for k, v in m.items() if k != "timings"} for m in front["front"]]
    return records, members, [h["hypervolume"] for h in front["history"]]


def trained_weights(run_dir: Path) -> dict[str, dict[str, str]]:
    """A digest of every saved array of every trained candidate: two runs that agree on
    accuracies (a few dozen validation images) can still differ in the last bits of every
    weight, as Eigen's and oneDNN's kernels do."""
    import hashlib

    import numpy as np

    digests = {}
    for path in sorted((run_dir / "models").glob("*.weights.npz")):
        with np.load(path) as arrays:
            digests[path.name] = {k: f"{arrays[k].dtype}{arrays[k].shape}"
                                     f"{hashlib.sha256(arrays[k].tobytes()).hexdigest()}"
                                  for k in arrays.files}
    return digests


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst
