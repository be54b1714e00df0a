"""The one ``--set KEY=VALUE`` parser: TOML literals, else bare strings; clear errors."""

import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.overrides import parse_override, parse_value


@pytest.mark.parametrize("text, expected", [
    ("search.population=4", (["search", "population"], 4)),
    ("search.engine=deap", (["search", "engine"], "deap")),
    ("search.engine='random'", (["search", "engine"], "random")),
    ("search.objectives=['error','params']", (["search", "objectives"], ["error", "params"])),
    ("training.learning_rate=0.01", (["training", "learning_rate"], 0.01)),
    ("cgp.choices.conv2d.filters=[8]", (["cgp", "choices", "conv2d", "filters"], [8])),
    ("pe_x = 16", (["pe_x"], 16)),
    ("tech.dram_pj=512.5", (["tech", "dram_pj"], 512.5)),
])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


def test_values_are_toml_literals_or_strings():
    assert parse_value("true") is True and parse_value(" [1, 2] ") == [1, 2]
    assert parse_value("{a = 1}") == {"a": 1} and parse_value("row_stationary") == "row_stationary"


@pytest.mark.parametrize("text", ["population", "=3", "search.=3", "a..b=1"])
def test_malformed_assignments_name_the_form(text):
    with pytest.raises(UserError, match=r"write section\.key=VALUE, e\.g\. --set s\.k=1"):
        parse_override(text, form="section.key", min_parts=2, example="s.k=1")


def test_campaign_keys_need_a_section():
    with pytest.raises(UserError, match="section.key"):
        parse_override("population=3", form="section.key", min_parts=2)
