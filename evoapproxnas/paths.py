"""Paths a user gives: whether they can name a file at all, checked before the file system is
asked (which raises ``OSError`` for a name that is too long or holds a NUL character).

Below every floor of the package, so that the readers of every floor (multiplier libraries,
hardware presets, importers, plots, the config) refuse such a path with the same one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from evoapproxnas.errors import UserError

NAME_MAX, PATH_MAX = 255, 4095
"""Longest file name and path (bytes) a path in a config or on the command line may have."""
TEMP_NAME_MAX = 48
"""Characters of a file's name that the name of its temporary sibling copies
(``evoapproxnas.atomic``): at most 192 bytes, so that a file whose name is as long as allowed
can still be written atomically."""


def path_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot name a file on this system (a part too long, a NUL character), or
    ``None`` (an empty path is the caller's to refuse: ``Path("")`` is the current folder)."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        return "it contains a NUL character"
    if len(raw) > PATH_MAX:
        return f"it is longer than {PATH_MAX} bytes"
    if any(len(part) > NAME_MAX for part in raw.split(b"/")):
        return f"a part of it is longer than {NAME_MAX} bytes"
    return None


def shown(path: str | os.PathLike) -> str:
    """``path`` for a message: quoted, shortened to 60 characters."""
    text = os.fsdecode(path)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_path(path: str | os.PathLike, what: str) -> Path:
    """``Path(path)``, or a ``UserError`` saying why ``what`` cannot be that path."""
    problem = path_problem(path)
    if problem:
        raise UserError(f"{what} {shown(path)} cannot be a file name: {problem}; give another one")
    return Path(path)
