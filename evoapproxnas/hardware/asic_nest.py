"""Exact access counting for one layer on a storage hierarchy under a given mapping.

This evaluates a mapping the way Timeloop's (v3, 2024) loop-nest analysis does, so that a
model given Timeloop's mapping reproduces its per-level scalar reads, fills and updates
(``tests/hardware/test_timeloop.py`` compares all four reference designs):

- **Loop nest.** Each storage level (outer -> inner) has temporal loops and the spatial loops
  that fan its tile out to its children. The nest is built inner -> outer; a level's tile is
  the box of operation-space points its own loops and everything below it cover, projected on
  each dataspace (inputs: ``R + s*P`` by ``S + s*Q``, padding ignored, as Timeloop does).
- **Deltas.** Each time a loop's working set is recomputed, the new box is compared with the
  previous one of the same loop: only the difference moves (sliding-window reuse), unless the
  box moved by a different translation than the time before, in which case the whole box moves
  (Timeloop's reset-on-stride-change rule, before its January 2025 change that made
  stationary steps transparent).
- **Extrapolation.** Of each temporal loop only iterations 0 and 1 are evaluated, the second
  weighted by ``bound - 1``; of a spatial fan-out only element 0 is evaluated and the other
  children's deltas are translations of it. Equal deltas of sibling children are multicast
  (one parent read; for outputs, a spatial reduction).
- **Bypass.** A level that does not keep a dataspace passes its children's requests on to the
  next level up that keeps it (with the parent's multicast pattern).
- **Counts.** Read-only data: reads = accesses by the children, fills = the tile deltas moved
  in. Partial sums: updates = writes from below, reads = updates - partition size (the first
  write of each element needs no read), fills = (deltas moved in) - partition size.
- **Energy and cycles.** ``ceil(count / block size)`` vector accesses x the energy per action,
  divided among the utilised instances of a cluster, plus leakage per cycle; cycles are the
  temporal iterations stretched by the worst bandwidth shortfall of any level.

Not modelled: imperfect factorisation (residual loops), link transfers between neighbouring
PEs, distributed multicast, network and address-generation energy, sparsity; a spatial
fan-out directly onto the MACs below the innermost storage level.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from evoapproxnas.errors import UserError

DATASPACES = ("Weights", "Inputs", "Outputs")
DIMS = ("G", "M", "C", "P", "Q", "R", "S")
#: dataspace -> data dimensions, each a sum of loop dims; "P*" and "Q*" are scaled by the
#: layer's strides (the input window: row = R + stride * P, column = S + stride * Q)
_PROJECTIONS = {
    "Weights": (("G",), ("M",), ("C",), ("R",), ("S",)),
    "Inputs": (("G",), ("C",), ("R", "P*"), ("S", "Q*")),
    "Outputs": (("G",), ("M",), ("P",), ("Q",)),
}
READ_WRITE = frozenset({"Outputs"})

Box = tuple[tuple[int, int], ...]  # per data dimension: [low, high)


@dataclass(frozen=True)
class LevelMapping:
    """The loops and kept dataspaces of one storage level.

    ``temporal`` and ``spatial`` list ``(dim, bound)`` / ``(dim, bound, axis)`` loops inner ->
    outer (Timeloop's permutation order); ``axis`` is ``"X"`` or ``"Y"``.
    """

    target: str
    temporal: tuple[tuple[str, int], ...] = ()
    spatial: tuple[tuple[str, int, str], ...] = ()
    keep: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Mapping:
    """A mapping: one :class:`LevelMapping` per storage level, outer -> inner."""

    levels: tuple[LevelMapping, ...]

    def level(self, name: str) -> LevelMapping:
        for lv in self.levels:
            if lv.target == name:
                return lv
        raise UserError(f"the mapping has no level {name!r}")

    def text(self) -> str:
        """The loop nest, outer -> inner, in Timeloop's ``map.txt`` style."""
        lines, depth = [], 0
        for lv in self.levels:
            kept = ",".join(d for d in DATASPACES if d in lv.keep)
            lines.append(f"{lv.target} [{kept}]")
            for dim, bound in reversed(lv.temporal):
                if bound > 1:
                    lines.append("  " * depth + f"| for {dim} in [0:{bound})")
                    depth += 1
            for dim, bound, axis in reversed(lv.spatial):
                if bound > 1:
                    lines.append("  " * depth + f"| for {dim} in [0:{bound}) (Spatial-{axis})")
                    depth += 1
        return "\n".join(lines)


@dataclass
class _Loop:
    dim: str
    bound: int
    axis: str  # "T", "X" or "Y"
    level: int  # storage level, 0 = innermost
    stride: int = 1  # op-space step of one iteration
    extent: dict = field(default_factory=dict)  # op-space extent of the loop's working set
    boundary: bool = False
    master: bool = False  # outermost loop of a spatial group
    group_start: int = 0  # for a master: index of the innermost loop of its group


@dataclass
class _State:
    prev: dict = field(default_factory=dict)  # dataspace -> last box (None = none yet)
    prev_tr: dict = field(default_factory=dict)  # dataspace -> last translation (None = null)
    max_size: dict = field(default_factory=lambda: dict.fromkeys(DATASPACES, 0))
    stats: dict = field(default_factory=lambda: {d: {} for d in DATASPACES})  # mult -> words


def _subtract(a: Box, b: Box) -> list[Box]:
    """``a - b`` as disjoint boxes (slices of ``a`` outside ``b``, dimension by dimension)."""
    if any(bh <= lo or hi <= bl for (lo, hi), (bl, bh) in zip(a, b, strict=True)):
        return [a]
    out, mid = [], list(a)
    for i, (bl, bh) in enumerate(b):
        lo, hi = mid[i]
        if lo < bl:
            out.append(tuple(mid[:i] + [(lo, bl)] + mid[i + 1:]))
            lo = bl
        if bh < hi:
            out.append(tuple(mid[:i] + [(bh, hi)] + mid[i + 1:]))
            hi = bh
        mid[i] = (lo, hi)
    return out


def _size(boxes) -> int:
    return sum(math.prod(h - lo for lo, h in box) for box in boxes)


def _shift(box: Box, vec: tuple[int, ...]) -> Box:
    return tuple((lo + v, hi + v) for (lo, hi), v in zip(box, vec, strict=True))


class _Analysis:
    """One run of the loop-nest analysis (see the module docstring)."""

    def __init__(self, dims: dict, strides: tuple[int, int], loops: list[_Loop]) -> None:
        self.dims = dims
        self.coef = {"P*": int(strides[0]), "Q*": int(strides[1])}
        self.loops = loops
        self.offset = dict.fromkeys(DIMS, 0)
        self.states = [_State() for _ in loops]
        self.compute = 0  # MACs per (first) compute instance

    def _project(self, ds: str, low: dict, ext: dict) -> Box:
        box = []
        for terms in _PROJECTIONS[ds]:
            lo = hi = 0
            for term in terms:
                d, c = term.rstrip("*"), self.coef[term] if term.endswith("*") else 1
                lo += low[d] * c
                hi += (low[d] + ext[d] - 1) * c
            box.append((lo, hi + 1))
        return tuple(box)

    def _working_set(self, k: int) -> dict:
        ext = self.loops[k].extent
        return {ds: self._project(ds, self.offset, ext) for ds in DATASPACES}

    def _step(self, k: int) -> dict:
        """Translation of each dataspace's box for one iteration of loop ``k``."""
        lp = self.loops[k]
        zero = dict.fromkeys(DIMS, 0)
        one = dict(zero, **{lp.dim: lp.stride})
        ext = dict.fromkeys(DIMS, 1)
        return {ds: tuple(b[0] - a[0] for a, b in zip(self._project(ds, zero, ext),
                                                     self._project(ds, one, ext), strict=True))
                for ds in DATASPACES}

    def deltas(self, k: int, epochs: int) -> dict:
        """Visit loop ``k`` (``epochs`` times over); return each dataspace's delta boxes."""
        lp, st = self.loops[k], self.states[k]
        if lp.axis == "T":
            self._temporal(k, epochs)
        else:
            self._spatial(k, epochs)
        cur = self._working_set(k)
        out = {}
        for ds, box in cur.items():
            if lp.boundary or lp.master:
                st.max_size[ds] = max(st.max_size[ds], _size([box]))
            prev = st.prev.get(ds)
            tr = None if prev is None else tuple(b[0] - a[0] for a, b in zip(prev, box,
                                                                             strict=True))
            if st.prev_tr.get(ds) is None:
                out[ds] = [box] if prev is None else _subtract(box, prev)
                st.prev_tr[ds] = tr
            elif tr == st.prev_tr[ds]:
                out[ds] = _subtract(box, prev)
            else:
                out[ds] = [box]
                st.prev_tr[ds] = None
            st.prev[ds] = box
        return out

    def _record(self, k: int, ds: str, mult: int, words: int) -> None:
        stats = self.states[k].stats[ds]
        stats[mult] = stats.get(mult, 0) + words

    def _temporal(self, k: int, epochs: int) -> None:
        lp = self.loops[k]
        if k == 0:
            self.compute += lp.bound * epochs
            for ds in DATASPACES:
                self._record(0, ds, 1, lp.bound * epochs)
            return
        moved = dict.fromkeys(DATASPACES, 0)
        for ds, boxes in self.deltas(k - 1, epochs).items():
            moved[ds] += _size(boxes)
        if lp.bound >= 2:
            self.offset[lp.dim] += lp.stride
            for ds, boxes in self.deltas(k - 1, epochs * (lp.bound - 1)).items():
                moved[ds] += _size(boxes) * (lp.bound - 1)
            self.offset[lp.dim] -= lp.stride
        if self.loops[k - 1].boundary:
            for ds in DATASPACES:
                if moved[ds]:
                    self._record(k, ds, 1, moved[ds] * epochs)

    def _spatial(self, k: int, epochs: int) -> None:
        lp = self.loops[k]
        lo = lp.group_start
        if lo == 0:
            raise UserError("a spatial fan-out below the innermost storage level is not "
                            "supported: map it onto a storage level above the MACs")
        group = self.loops[lo:k + 1]
        first = self.deltas(lo - 1, epochs)
        steps = [self._step(j) for j in range(lo, k + 1)]
        for ds in DATASPACES:
            if not _size(first[ds]):
                continue
            counts: dict = {}
            for idx in itertools.product(*(range(g.bound) for g in group)):
                vec = tuple(sum(i * s[ds][n] for i, s in zip(idx, steps, strict=True))
                            for n in range(len(first[ds][0])))
                key = frozenset(_shift(b, vec) for b in first[ds])
                counts[key] = counts.get(key, 0) + 1
            size = _size(first[ds])
            for mult in counts.values():
                self._record(k, ds, mult, size * epochs)


def build_loops(dims: dict, levels: list, mapping: Mapping) -> list[_Loop]:
    """The loop nest (inner -> outer) of ``mapping`` on the storage ``levels`` (outer -> inner).

    Raises ``UserError`` when a level is missing, or the factors of a dimension do not
    multiply to its bound (only perfect factorisations are evaluated).
    """
    names = [lv["name"] for lv in levels]
    by_name = {lv.target: lv for lv in mapping.levels}
    unknown = [n for n in by_name if n not in names]
    if unknown:
        raise UserError(f"the mapping names levels {unknown} that the architecture lacks "
                        f"(it has {', '.join(names)})")
    loops: list[_Loop] = []
    product = dict.fromkeys(DIMS, 1)
    for s, spec in enumerate(reversed(levels)):
        lm = by_name.get(spec["name"], LevelMapping(spec["name"]))
        group = []
        for dim, bound, axis in lm.spatial:
            if bound > 1:
                group.append(_Loop(dim, int(bound), axis, s))
        if group:
            group[-1].master = True
            group[-1].group_start = len(loops)
        loops.extend(group)
        temporal = [_Loop(d, int(b), "T", s) for d, b in lm.temporal if b > 1]
        loops.extend(temporal or [_Loop("Q", 1, "T", s)])
        loops[-1].boundary = True
    for lp in loops:
        if lp.dim not in DIMS:
            raise UserError(f"unknown loop dimension {lp.dim!r}: use one of {', '.join(DIMS)}")
        lp.stride = product[lp.dim]
        product[lp.dim] *= lp.bound
        lp.extent = dict(product)
    bad = {d: (product[d], dims[d]) for d in DIMS if product[d] != dims[d]}
    if bad:
        detail = ", ".join(f"{d}: factors give {p}, layer has {b}" for d, (p, b) in bad.items())
        raise UserError(f"the mapping does not factorise the layer exactly ({detail}); only "
                        "perfect factorisations are evaluated")
    return loops


def _collapse(an: _Analysis, loops: list[_Loop], n_levels: int, keeps: list, ds: str) -> list:
    """Per storage level (inner -> outer): tile size, partition size, reads, fills, updates."""
    first_loop = {}
    for k, lp in enumerate(loops):
        if lp.level not in first_loop and (lp.axis == "T" or lp.master):
            first_loop[lp.level] = k
    bound = {lp.level: k for k, lp in enumerate(loops) if lp.boundary}
    rows = []
    for s in range(n_levels):
        v = loops[first_loop[s]]
        st = an.states[first_loop[s]]
        rows.append({
            "size": an.states[bound[s]].max_size[ds],
            "master_size": st.max_size[ds] if v.master else 0,
            "stats": dict(st.stats[ds]),
            "fanout": math.prod(lp.bound for lp in loops[v.group_start:first_loop[s] + 1])
            if v.master else 1,
        })
    top = n_levels - 1
    part = rows[top]["size"]
    rows[top]["partition"] = part
    for s in range(top - 1, -1, -1):
        above = rows[s + 1]
        denom = above["master_size"] if above["master_size"] else rows[s]["size"]
        if denom:
            part = part * rows[s]["size"] // denom
        rows[s]["partition"] = part
    for s, row in enumerate(rows):
        row["content"] = sum(row["stats"].values())
        row["share"] = 0.0
        if s < top:
            above = rows[s + 1]
            row["share"] = sum(w * m for m, w in above["stats"].items()) / above["fanout"]
    for s in range(n_levels):  # bypass: children talk to the next level up that keeps ds
        row = rows[s]
        if row["size"] == 0 or keeps[s]:
            continue
        outer = next((t for t in range(s + 1, n_levels) if rows[t]["size"]), None)
        if outer is not None:
            up = rows[outer]
            weighted = sum(w * m for m, w in up["stats"].items())
            factor = row["content"] * up["fanout"] / weighted if weighted else 0.0
            up["stats"] = {m: w * factor for m, w in up["stats"].items()}
            up["content"] = sum(up["stats"].values())
        row.update(size=0, partition=0, content=0, share=0.0)
        if outer is None:
            break
    for s in range(top, -1, -1):  # outermost bypassing levels hold nothing
        if keeps[s]:
            rows[s]["share"] = 0.0
            break
        rows[s].update(size=0, partition=0, content=0, share=0.0, stats={})
    for s, row in enumerate(rows):
        if not row["size"]:
            row.update(reads=0, fills=0, updates=0)
        elif ds in READ_WRITE:
            outermost = not any(rows[t]["size"] for t in range(s + 1, n_levels))
            row["updates"] = round(row["content"])
            row["reads"] = round(row["content"] - row["partition"])
            row["fills"] = round(row["share"] if outermost else row["share"] - row["partition"])
        else:
            row.update(reads=round(row["content"]), updates=0, fills=round(row["share"]))
    return rows


def analyze(dims: dict, strides: tuple[int, int], levels: list, mapping: Mapping,
            mac_pj: float) -> dict:
    """Evaluate ``mapping`` of a layer (loop bounds ``dims``) on a storage hierarchy.

    ``levels`` lists the storage levels outer -> inner (dicts as in ``AsicModel``'s
    ``hierarchy`` key, see docs/hardware.md) and ends with the compute level
    (``kind = "compute"``). Returns ``cycles``, ``compute_cycles``, ``energy_pj``, ``macs``,
    ``utilization``, ``energy_by_level_pj``, ``instances`` (utilised, per level),
    ``capacity`` (words per level and dataspace) and ``accesses[level][dataspace] =
    {"reads", "fills", "updates"}``, the per-instance scalar counts, for the levels that keep
    the dataspace.
    """
    if not levels or levels[-1].get("kind") != "compute":
        raise UserError("the hierarchy must end with the compute level (kind = 'compute')")
    storage, mac = levels[:-1], levels[-1]
    if not storage:
        raise UserError("the hierarchy needs at least one storage level")
    loops = build_loops(dims, storage, mapping)
    an = _Analysis(dims, strides, loops)
    an.deltas(len(loops) - 1, 1)
    n = len(storage)
    inner = list(reversed(storage))  # index = storage level, 0 = innermost
    by_name = {lv.target: lv for lv in mapping.levels}
    keeps = [{ds: ds in by_name.get(lv["name"], LevelMapping(lv["name"])).keep
              for ds in DATASPACES} for lv in inner]
    rows = {ds: _collapse(an, loops, n, [k[ds] for k in keeps], ds) for ds in DATASPACES}
    for ds in DATASPACES:
        if not any(k[ds] for k in keeps):
            raise UserError(f"no level of the mapping keeps {ds}")
    # utilised instances: product of the spatial factors above each level
    util, util_xy = [1] * n, [(1, 1)] * n
    for s in range(n - 1, -1, -1):
        above = [lp for lp in loops if lp.axis != "T" and lp.level > s]
        x = math.prod(lp.bound for lp in above if lp.axis == "X")
        y = math.prod(lp.bound for lp in above if lp.axis == "Y")
        util[s], util_xy[s] = x * y, (x, y)
    for s, spec in enumerate(inner):
        x, y = util_xy[s]
        if x > spec.get("mesh_x", x) or y > spec.get("mesh_y", y):
            raise UserError(f"the mapping spreads {spec['name']} over {x} x {y} instances; "
                            f"the architecture has {spec['mesh_x']} x {spec['mesh_y']}")
        words = sum(rows[ds][s]["size"] for ds in DATASPACES)
        cap = int(spec.get("depth_words", 0) or 0)
        if cap and words > cap:
            raise UserError(f"the mapping needs {words} words at {spec['name']}, which holds "
                            f"{cap}")
    compute_cycles = an.compute
    macs = math.prod(dims.values())
    cycles = compute_cycles
    for s, spec in enumerate(inner):
        rd = sum(rows[ds][s]["reads"] for ds in DATASPACES) / compute_cycles
        wr = sum(rows[ds][s]["fills"] + rows[ds][s]["updates"] for ds in DATASPACES)
        wr /= compute_cycles
        slow = 1.0
        for limit, need in ((spec.get("read_bandwidth", 0), rd),
                            (spec.get("write_bandwidth", 0), wr),
                            (spec.get("shared_bandwidth", 0), rd + wr)):
            if limit and need > limit:
                slow = min(slow, limit / need)
        cycles = max(cycles, math.ceil(compute_cycles / slow))
    accesses, energy, capacity, instances = {}, {}, {}, {}
    for s, spec in enumerate(inner):
        name = spec["name"]
        instances[name] = util[s]
        if spec.get("kind") == "dummy":
            continue
        block = max(1, int(spec.get("block_size", 1)))
        clusters = min(util[s], max(1, int(spec.get("instances", 1))
                                    // max(1, int(spec.get("cluster_size", 1)))))
        per_cluster = util[s] / clusters
        total = spec.get("leak_pj", 0.0) * cycles * util[s]
        for ds in DATASPACES:
            r = rows[ds][s]
            if not keeps[s][ds]:
                continue
            accesses.setdefault(name, {})[ds] = {
                "reads": r["reads"], "fills": r["fills"], "updates": r["updates"]}
            capacity.setdefault(name, {})[ds] = r["size"]
            vec = (math.ceil(r["reads"] / block) * spec.get("read_pj", 0.0)
                   + math.ceil(r["fills"] / block) * spec.get("fill_pj", 0.0)
                   + math.ceil(r["updates"] / block) * spec.get("update_pj", 0.0))
            total += vec / per_cluster * util[s]
        energy[name] = total
    energy[mac.get("name", "mac")] = macs * mac_pj
    return {
        "cycles": int(cycles),
        "compute_cycles": int(compute_cycles),
        "macs": int(macs),
        "energy_pj": float(sum(energy.values())),
        "energy_by_level_pj": energy,
        "utilization": macs / (cycles * int(mac.get("instances", 1))),
        "instances": instances,
        "capacity": capacity,
        "accesses": accesses,
    }


_LEVEL_KEYS = {"name": str, "kind": str, "instances": int, "mesh_x": int, "mesh_y": int}


def check_hierarchy(levels: list) -> None:
    """Raise ``UserError`` unless ``levels`` is empty or a valid hierarchy (see ``analyze``)."""
    if not levels:
        return
    if not isinstance(levels, list) or not all(isinstance(lv, dict) for lv in levels):
        raise UserError("asic setting 'hierarchy' must be a list of level tables")
    for i, lv in enumerate(levels):
        for key, kind in _LEVEL_KEYS.items():
            if key not in lv:
                raise UserError(f"asic hierarchy level {i} lacks {key!r}")
            if kind is int and (not isinstance(lv[key], int) or lv[key] < 1):
                raise UserError(f"asic hierarchy level {lv['name']!r}: {key} must be a "
                                f"positive integer, got {lv[key]!r}")
        if lv["kind"] not in ("storage", "dummy", "compute"):
            raise UserError(f"asic hierarchy level {lv['name']!r}: kind must be storage, dummy "
                            f"or compute, got {lv['kind']!r}")
        if (lv["kind"] == "compute") != (i == len(levels) - 1):
            raise UserError("asic hierarchy: exactly the last level must be the compute level")
