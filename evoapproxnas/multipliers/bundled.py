"""Where the bundled multiplier libraries live: the package ``evoapproxnas.multipliers._bundled``
(in the source tree a symlink to the repository's ``multipliers/`` folder, in a wheel a real
folder), else the repository folder itself."""

from __future__ import annotations

import importlib.resources
import importlib.util
from functools import lru_cache
from pathlib import Path

INDEX_FILE = "library.json"
REPO_FOLDER = Path(__file__).resolve().parents[2] / "multipliers"


@lru_cache(maxsize=1)
def bundled_root() -> Path | None:
    """The folder holding one sub-folder per bundled library, or ``None`` if absent."""
    try:
        spec = importlib.util.find_spec("evoapproxnas.multipliers._bundled")
    except ModuleNotFoundError:
        spec = None
    if spec is not None:
        root = Path(str(importlib.resources.files("evoapproxnas.multipliers._bundled")))
        if root.is_dir():
            return root
    return REPO_FOLDER if REPO_FOLDER.is_dir() else None


def bundled_names() -> list[str]:
    """Names of the bundled libraries (folders holding an index file), sorted."""
    root = bundled_root()
    if root is None:
        return []
    return sorted(p.name for p in root.iterdir() if (p / INDEX_FILE).is_file())


def bundled_path(name: str) -> Path | None:
    """The folder of bundled library ``name``, or ``None``."""
    root = bundled_root()
    if root is None or name.startswith(".") or "/" in name or "\\" in name:
        return None
    path = root / name
    try:
        return path if (path / INDEX_FILE).is_file() else None
    except (OSError, ValueError):  # not a usable file name (too long, a NUL character)
        return None
