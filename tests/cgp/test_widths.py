"""Bit widths as genes of CGP nodes (``cgp.widths``): the layout without them is the one of
before (pinned), decoding by hand, the hash against the isomorphism reference of
``test_hash``, and mutation and crossover varying the width genes."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from evoapproxnas.cgp import (
    CGPSpec,
    decode,
    genome_hash,
    multiply_layers,
    mutate,
    random_genome,
    validate_genome,
)
from evoapproxnas.cgp.genome import active_gene_indices, width_gene_indices
from evoapproxnas.cgp.variation import recombine
from evoapproxnas.errors import UserError

from .test_hash import layer_graph, same_network

# conv2d genes: kernel 2|3, filters 4|8, strides 1|2, relu|elu, bias no|yes; then per node
# the multiplier (a weight width: W = 3 -> allowed multiplier 1, W = 8 -> 6), A, Af, Wf
SPEC = CGPSpec(rows=1, columns=4, levels_back=4,
               functions=("conv2d", "summation", "max_pooling"),
               choices={"conv2d": {"filters": [4, 8]}}, n_multipliers=2,
               activation_bits=(2, 4), weight_bits=(3, 8), fixed_point=True,
               activation_frac_bits=(1, 6), weight_frac_bits=(0, 5), weight_genes=(1, 6))
SHAPE, CLASSES = (8, 8, 1), 3


def wnode(function: str, inputs=(0, 0), params=(0, 0, 0, 0, 1), multiplier=0,
          widths=(0, 0, 0)) -> list[int]:
    """Genes of one node of ``SPEC``: function, inputs, 5 parameter genes, multiplier, A, Af,
    Wf (written out here, not read from the spec's layout)."""
    return [SPEC.functions.index(function), *inputs, *params, multiplier, *widths]


def chain(output: int = 4, **change) -> np.ndarray:
    """conv 3x3/4 (W 3, A 4, Af 6, Wf 5) -> conv 2x2/8 (W 8, A 2, Af 1, Wf 0) -> summation
    of both (projection: W 3, A 4, Af 1, Wf 5) -> max-pooling; ``change`` = {index: value}."""
    genes = (wnode("conv2d", (0, 0), (1, 0, 0, 0, 1), 0, (1, 1, 1))
             + wnode("conv2d", (1, 0), (0, 1, 0, 0, 1), 1, (0, 0, 0))
             + wnode("summation", (1, 2), (0, 0, 0, 0, 0), 0, (1, 0, 1))
             + wnode("max_pooling", (3, 0), (0, 0, 0, 0, 0), 1, (1, 1, 0)) + [output])
    for index, value in change.items():
        genes[int(index[1:])] = value
    return np.array(genes, dtype=np.int64)


def test_without_widths_the_genome_and_its_hashes_are_those_of_before():
    # computed with the code before width genes existed (same spec, same seeds): genome
    # length, a digest of the drawn genome and of its mutation, and the three hashes
    spec = CGPSpec(n_multipliers=4, head_multiplier="gene")
    assert spec.genome_length == 110 and spec.width_genes == () and not spec.widths
    genome = random_genome(spec, np.random.default_rng(7))
    child = mutate(genome, spec, np.random.default_rng(8))

    def digest(a):
        return hashlib.sha256(json.dumps(a.tolist()).encode()).hexdigest()[:16]

    assert digest(genome) == "0579eecf58b9a1cb" and digest(child) == "6c978cc762eb1377"
    assert genome_hash(genome, spec) == "523fcd9ebab924c1"
    assert genome_hash(genome, spec, SHAPE, CLASSES) == "fc98838b81f3f188"
    assert genome_hash(child, spec, SHAPE, CLASSES) == "c978e5e1dd6b5cf8"


def test_layout_and_decode_by_hand():
    assert SPEC.node_length == 12 and SPEC.genome_length == 4 * 12 + 1
    assert SPEC.width_genes == ("activation_bits", "activation_frac_bits", "weight_frac_bits")
    assert width_gene_indices(SPEC) == [9, 10, 11, 21, 22, 23, 33, 34, 35, 45, 46, 47]
    graph = decode(chain(), SPEC, SHAPE, CLASSES)
    records = [(r["name"], r["multiplier"], r["multiplications"], r.get("activation_bits"),
                r.get("activation_frac_bits"), r.get("weight_frac_bits"))
               for r in multiply_layers(graph)]
    assert records == [
        ("node0/conv", 1, 64 * 9 * 1 * 4, 4, 4, 3),      # Af 6 -> A = 4, Wf 5 -> W = 3
        ("node1/conv", 6, 64 * 4 * 4 * 8, 2, 1, 0),
        ("node2/project0", 1, 64 * 4 * 8, 4, 1, 3),      # the 4-channel input, to 8
        ("head/dense", None, 8 * 3, None, None, None)]   # the head stays exact at 8 bits
    assert "widths" not in graph.nodes["node3"]  # pooling does not multiply
    # genes name their part in errors
    with pytest.raises(ValueError, match=r"gene 10 \(node 0 activation_frac_bits\) = 2"):
        validate_genome(chain(g10=2), SPEC)


def test_the_hash_follows_active_widths_only():
    base = chain()
    same = [chain(g45=0, g46=0, g47=1),               # the pooling node's width genes
            chain(output=2, g33=0, g34=1),            # (with output 2) the inactive summation
            ]
    for genome in same:
        ref = chain(output=int(genome[-1]))
        assert genome_hash(genome, SPEC) == genome_hash(ref, SPEC)
        assert genome_hash(genome, SPEC, SHAPE, CLASSES) == genome_hash(ref, SPEC, SHAPE,
                                                                       CLASSES)
    for index in (9, 10, 11, 21, 33, 35, 8):          # active A, Af, Wf and W genes
        genome = base.copy()
        genome[index] = 1 - genome[index]
        assert genome_hash(genome, SPEC) != genome_hash(base, SPEC)
        assert genome_hash(genome, SPEC, SHAPE, CLASSES) != genome_hash(base, SPEC, SHAPE,
                                                                       CLASSES)
    # Af choices 4 and 6 on a 4-bit layer are both Af = 4: one network, one hash
    clip = dataclasses.replace(SPEC, activation_frac_bits=(4, 6))
    assert genome_hash(chain(g10=0), clip, SHAPE, CLASSES) == genome_hash(chain(), clip, SHAPE,
                                                                         CLASSES)
    assert genome_hash(chain(g10=0), clip) == genome_hash(chain(), clip)


def test_equal_hash_iff_isomorphic_networks_with_widths():
    spec = dataclasses.replace(SPEC, rows=1, columns=3, levels_back=3, min_active_nodes=2,
                               activation_bits=(2, 8), activation_frac_bits=(1,),
                               weight_frac_bits=(2,))
    rng = np.random.default_rng(0)
    genomes = [random_genome(spec, rng) for _ in range(60)]
    genomes += [mutate(g, spec, rng) for g in genomes]
    graphs = [layer_graph(decode(g, spec, SHAPE, CLASSES)) for g in genomes]
    hashes = [genome_hash(g, spec, SHAPE, CLASSES) for g in genomes]
    equal = unequal = 0
    for i in range(len(genomes)):
        for j in range(i + 1, len(genomes)):
            if hashes[i] == hashes[j]:
                equal += 1
                assert same_network(graphs[i], graphs[j])
            elif unequal < 400:
                unequal += 1
                assert not same_network(graphs[i], graphs[j])
    assert equal and unequal


def test_mutation_and_crossover_vary_the_width_genes():
    rng = np.random.default_rng(1)
    widths = width_gene_indices(SPEC)
    drawn = np.array([random_genome(SPEC, rng) for _ in range(40)])
    for index in widths:  # random genomes take every value of every width gene
        assert set(drawn[:, index]) == {0, 1}
    parent = chain()
    active = [i for i in active_gene_indices(parent, SPEC) if i in widths]
    assert active == [9, 10, 11, 21, 22, 23, 33, 34, 35]
    changed = set()
    for _ in range(200):
        child = validate_genome(mutate(parent, SPEC, rng), SPEC)
        changed |= {i for i in widths if child[i] != parent[i]}
    assert set(active) <= changed
    # parents that differ only in width genes exchange them gene by gene
    other = chain(g9=0, g22=1, g35=0)
    children = [recombine(parent, other, SPEC, rng) for _ in range(20)]
    for child in children:
        assert all(child[i] in (parent[i], other[i]) for i in range(SPEC.genome_length))
        assert not np.array_equal(child, parent) and not np.array_equal(child, other)
    assert len({tuple(c) for c in children}) > 1


def test_bad_width_settings_are_one_line():
    with pytest.raises(UserError, match="space.fixed_point .*needs space.weight_bits"):
        CGPSpec(fixed_point=True)
    with pytest.raises(UserError, match=r"space.activation_bits = \[1, 4\]"):
        CGPSpec(activation_bits=(1, 4))
    with pytest.raises(UserError, match="n_multipliers must be 2"):
        CGPSpec(weight_bits=(4, 8), n_multipliers=3)
