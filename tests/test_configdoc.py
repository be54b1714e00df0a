"""docs/config.md is generated from the config dataclasses and stays in step with them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from evoapproxnas.cli import configdoc
from evoapproxnas.config import SECTIONS

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_every_key_has_a_meaning():
    missing = configdoc.missing_meanings()
    assert not missing, (
        f"config keys without a docstring: {', '.join(missing)}; write a string literal "
        f"right after each field in its dataclass, then regenerate: {configdoc.REGENERATE}")


def test_docs_config_md_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == configdoc.render(), (
        f"docs/config.md differs from the config dataclasses; regenerate it: "
        f"{configdoc.REGENERATE}")


def test_every_settable_key_is_listed():
    text = configdoc.render()
    for name in SECTIONS:
        assert f"## [{name}]" in text
        for f in configdoc.section_keys(name):
            assert f"| `{f.name}` |" in text, f"{name}.{f.name}"
    assert "`n_multipliers`" not in text  # derived by the campaign, not a key


def test_field_docstrings_reads_the_literal_after_each_field():
    @dataclasses.dataclass
    class Example:
        documented: int = 1
        """The meaning
        over two lines."""
        bare: str = "x"
        following: float = 0.5
        """Another."""

    docs = configdoc.field_docstrings(Example)
    assert docs == {"documented": "The meaning\nover two lines.", "following": "Another."}


def test_defaults_are_written_as_toml():
    assert configdoc.toml_value(("a", 1, True)) == '["a", 1, true]'
    assert configdoc.toml_value({"GPU": 1}) == "{ GPU = 1 }"
    assert configdoc.toml_value({}) == "{}"
    assert configdoc.toml_value('say "x"') == '"say \\"x\\""'
    assert configdoc.toml_value(1e-3) == "0.001"
