"""Checks of the paths the commands are given, made before anything is computed: a path that
cannot be read or written is refused while the refusal costs nothing."""

from __future__ import annotations

import os
from pathlib import Path

from evoapproxnas.errors import UserError
from evoapproxnas.paths import check_path


def path_arg(text: str, what: str = "--out") -> Path:
    """``Path(text)``; ``UserError`` for an empty text or one that cannot name a file."""
    if not text:
        raise UserError(f"{what} is empty; give a path")
    return check_path(text, what)


def check_creatable(path: str | os.PathLike, what: str = "--out") -> None:
    """``UserError`` (one line) unless ``path``, which does not exist yet, can be created:
    its nearest existing ancestor is a writable folder (missing folders between are made)."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot create {what} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot create {what} {path}: {folder} is not a writable folder")
