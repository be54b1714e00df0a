"""``head_multiplier``: the classifier head exact, on a gene of its own, on a fixed gene, or
(in a campaign config) on a named multiplier."""

from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    active_gene_indices,
    count_multiplications,
    decode,
    genome_hash,
    mutate,
    random_genome,
    validate_genome,
)
from evoapproxnas.errors import UserError

from .helpers import genome, node

GENE = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3, head_multiplier="gene")
PLAIN = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3)
TINY = Path(__file__).parents[1] / "search" / "tiny.toml"
CONV = (1, 0, 0, 0, 0)  # kernel 3, 32 filters, stride 1


def test_gene_mode_adds_one_gene_before_the_output():
    assert GENE.genome_length == PLAIN.genome_length + 1
    assert GENE.head_gene_index == GENE.genome_length - 2 == 4 * GENE.node_length
    assert PLAIN.head_gene_index is None and not PLAIN.head_gene
    dna = genome(GENE, [node(GENE, "conv2d", params=CONV, multiplier=1)], output=1, head=2)
    assert dna[-2:] == [2, 1]
    graph = decode(dna, GENE, (8, 8, 1), 10)
    assert graph.nodes["head"]["multiplier"] == 2
    assert count_multiplications(graph) == {1: 8 * 8 * 9 * 32, 2: 32 * 10}
    assert GENE.head_gene_index in active_gene_indices(dna, GENE)


def test_head_gene_is_validated_sampled_and_mutated():
    dna = genome(GENE, [node(GENE, "conv2d", params=CONV)], output=1, head=3)
    with pytest.raises(ValueError, match=r"\(head multiplier\) = 3 is outside 0\.\.2"):
        validate_genome(dna, GENE)
    rng = np.random.default_rng(0)
    heads = {int(random_genome(GENE, rng)[GENE.head_gene_index]) for _ in range(60)}
    assert heads == {0, 1, 2}
    parent = random_genome(GENE, rng)
    changed = sum(mutate(parent, GENE, rng)[GENE.head_gene_index] != parent[GENE.head_gene_index]
                  for _ in range(300))
    assert 0 < changed < 300


def test_head_gene_counts_in_the_hash_like_a_fixed_head():
    nodes = [node(GENE, "conv2d", params=CONV)]
    a, b = (genome(GENE, nodes, output=1, head=h) for h in (0, 2))
    assert genome_hash(a, GENE) != genome_hash(b, GENE)
    assert genome_hash(a, GENE, (8, 8, 1), 10) != genome_hash(b, GENE, (8, 8, 1), 10)
    fixed = CGPSpec(rows=1, columns=4, levels_back=4, n_multipliers=3, head_multiplier=2)
    same = genome(fixed, [node(fixed, "conv2d", params=CONV)], output=1)
    # the same network (head on multiplier gene 2), whichever way the spec says so
    assert genome_hash(b, GENE, (8, 8, 1), 10) == genome_hash(same, fixed, (8, 8, 1), 10)
    assert genome_hash(b, GENE) == genome_hash(same, fixed)


def test_exact_and_bad_values():
    assert CGPSpec(head_multiplier="exact").head_multiplier is None
    assert CGPSpec(head_multiplier="exact") == CGPSpec()
    for bad in (True, 1.5, [0], "", 3):
        with pytest.raises(UserError, match="head_multiplier must be 'exact', 'gene' or a "):
            CGPSpec(n_multipliers=3, head_multiplier=bad)
    named = CGPSpec(rows=1, columns=2, n_multipliers=3, head_multiplier="mul8u_17KS")
    dna = genome(named, [node(named, "conv2d", params=CONV)], output=1)
    with pytest.raises(UserError, match="names a multiplier; resolve it"):
        decode(dna, named, (8, 8, 1), 10)


def _problem(value):
    from evoapproxnas.config import config_from_dict, load_config
    from evoapproxnas.search.problem import CampaignProblem

    cfg = load_config(TINY, [f"cgp.head_multiplier={value}"])
    problem = CampaignProblem.build(cfg, (8, 8, 1), 3)
    again = config_from_dict(cfg.to_dict())  # what a run directory's config.json holds
    assert CampaignProblem.build(again, (8, 8, 1), 3).spec == problem.spec
    return problem, again


@pytest.mark.parametrize("value, head", [("'exact'", None), ("'gene'", "gene"),
                                         ("'mul8u_17KS'", 2)])  # allowed[2] in tiny.toml
def test_campaign_config_key(value, head):
    problem, again = _problem(value)
    assert problem.spec.head_multiplier == head
    assert again.cgp.head_multiplier == problem.cfg.cgp.head_multiplier
    rng = np.random.default_rng(1)
    graph = problem.decode(problem.space.sample(rng))
    gene = graph.nodes["head"]["multiplier"]
    if head == "gene":
        assert gene in range(len(problem.multipliers))
    else:
        assert gene == head
    metrics = problem.cheap_metrics(graph)
    names = problem.multipliers
    assert metrics["multipliers"]["head/dense"] == (
        names[gene].name if gene is not None else "mul8u_1JFF")


@pytest.mark.parametrize("value, needle", [
    ("'mul8u_NOPE'", "cgp.head_multiplier = 'mul8u_NOPE' is not an allowed multiplier"),
    ("'mul8u_NGR'", "is not an allowed multiplier"),  # in the library, not allowed
    ("[1]", "head_multiplier must be"),
])
def test_campaign_config_key_errors_are_one_line(value, needle):
    with pytest.raises(UserError, match=needle) as info:
        _problem(value)
    assert "\n" not in str(info.value) and "tiny.toml" in str(info.value)
