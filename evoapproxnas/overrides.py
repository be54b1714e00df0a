"""The one ``--set KEY=VALUE`` parser of every command (campaign keys and hardware settings).

A value is read as a TOML literal (number, boolean, list, inline table, quoted string) and,
failing that, taken as a bare string, so ``--set search.engine=deap`` and
``--set 'multipliers.allowed=["mul8u_1JFF"]'`` both work.
"""

from __future__ import annotations

from typing import Any

from evoapproxnas.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def parse_value(text: str) -> Any:
    """A TOML literal, or the stripped text itself when it is not one."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):  # nested too deep: not a value either
        return text


def parse_override(text: str, *, form: str = "KEY", min_parts: int = 1,
                   example: str = "key=value") -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value).

    The dotted key needs at least ``min_parts`` parts; a malformed one is a ``UserError``
    showing ``form`` (e.g. ``section.key``) and ``example``.
    """
    key, sep, raw = str(text).partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not sep or not all(path) or len(path) < min_parts:
        raise UserError(f"--set {text!r}: write {form}=VALUE, e.g. --set {example}")
    return path, parse_value(raw)
