"""Read Timeloop + Accelergy reference outputs into the ASIC model's config, a layer and a mapping.

A Timeloop run folder holds (file names as the mapper writes them):

- ``parsed-processed-input.yaml``: the architecture (levels outer -> inner, their widths,
  depths, meshes, bandwidths) and the problem (a convolution ``C M R S N P Q`` with strides);
- ``timeloop-mapper.map.yaml``: the mapping (per level: kept dataspaces, temporal factors and
  permutation, spatial factors, permutation and X/Y split);
- ``timeloop-mapper.ERT_summary.yaml``: Accelergy's energy per action of every component;
- ``timeloop-mapper.stats.txt`` (optional, :func:`read_stats`): Timeloop's own results.

``read_reference(folder)`` returns ``(config, layer, mapping)`` such that
``get_cost_model("asic", **config).estimate_mapping(layer, mapping)`` evaluates Timeloop's
mapping on Timeloop's architecture with Accelergy's energies (see ``asic_nest``).

Conventions: Timeloop's input width index is ``R*Wdilation + P*Wstride``, so its ``W`` axis
is our layer's first (row) axis and ``Wstride`` its first stride; batch ``N`` and dilations must
be 1. The MAC's ``compute`` energy becomes the technology table's ``mult_pj`` (``add_pj = 0``)
so that an approximate multiplier scales it like any other layer.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from evoapproxnas.errors import UserError
from evoapproxnas.hardware.asic_nest import DATASPACES, LevelMapping, Mapping
from evoapproxnas.hardware.layers import Layer

FILES = {
    "input": "parsed-processed-input.yaml",
    "map": "timeloop-mapper.map.yaml",
    "ert": "timeloop-mapper.ERT_summary.yaml",
}
STATS_FILE = "timeloop-mapper.stats.txt"
_TIMELOOP_DIMS = ("C", "M", "R", "S", "N", "P", "Q")
_COUNT = re.compile(r"\[(\d+)\.\.(\d+)\]$")


def _load_yaml(path: Path) -> Any:
    import yaml  # pyyaml: a dependency of the package, imported where it is used

    try:
        with path.open(encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None


def _base_name(name: str) -> tuple[str, int]:
    """``'mac[1..168]'`` -> ``('mac', 168)``."""
    match = _COUNT.search(name)
    if not match:
        return name, 1
    return name[: match.start()], int(match.group(2)) - int(match.group(1)) + 1


def _flatten(subtrees: list, count: int = 1) -> list[tuple[dict, int]]:
    """Architecture components outer -> inner with their instance counts (v0.4 trees)."""
    out = []
    for tree in subtrees or []:
        _, n = _base_name(str(tree.get("name", "")))
        for comp in tree.get("local") or []:
            _, k = _base_name(str(comp["name"]))
            out.append((comp, k if k > 1 else count * n))
        out.extend(_flatten(tree.get("subtree"), count * n))
    return out


def _energies(ert: Any, path: Path) -> dict[str, dict[str, float]]:
    try:
        table = ert["ERT_summary"]["table_summary"]
        result = {}
        for entry in table:
            name = _base_name(str(entry["name"]))[0].rsplit(".", 1)[-1]
            result[name] = {a["name"]: float(a["energy"]) for a in entry["actions"]}
        return result
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: not an Accelergy ERT summary ({exc})") from None


def _number(attrs: dict, key: str, default: float = 0.0) -> float:
    value = attrs.get(key, default)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else default


def _hierarchy(spec: Any, energies: dict, path: Path) -> list[dict]:
    try:
        components = _flatten(spec["architecture"]["subtree"])
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path}: no architecture subtree ({exc})") from None
    if len(components) < 2:
        raise UserError(f"{path}: the architecture needs storage levels and a compute level")
    levels = []
    for i, (comp, count) in enumerate(components):
        name = _base_name(str(comp["name"]))[0]
        attrs = comp.get("attributes") or {}
        klass = str(comp.get("class", ""))
        mesh_x, mesh_y = int(_number(attrs, "meshX", 1)), int(_number(attrs, "meshY", 1))
        if mesh_x * mesh_y not in (1, count):
            raise UserError(f"{path}: {name} has {count} instances on a {mesh_x}x{mesh_y} mesh")
        if mesh_x * mesh_y == 1 and count > 1:
            mesh_x = count
        level = {"name": name, "instances": count, "mesh_x": mesh_x, "mesh_y": mesh_y}
        if i == len(components) - 1:
            if "compute" not in energies.get(name, {}):
                raise UserError(f"{path}: the innermost component {name!r} has no compute "
                                "energy in the ERT; it must be the MAC")
            level.update(kind="compute", compute_pj=energies[name]["compute"])
            levels.append(level)
            continue
        word = int(_number(attrs, "datawidth", _number(attrs, "word-bits", 8))) or 8
        width = int(_number(attrs, "width", word))
        cluster = int(_number(attrs, "cluster_size", 1)) or 1
        # Timeloop: a vector access (block) is width / (word bits x cluster size) words
        block = int(_number(attrs, "block_size", _number(attrs, "block-size",
                                                          max(1, width // (word * cluster)))))
        depth = int(_number(attrs, "depth", 0))
        dummy = klass == "dummy_storage"
        act = energies.get(name, {})
        if not dummy and not act:
            raise UserError(f"{path}: no energies for {name!r} in the ERT summary")
        level.update(
            kind="dummy" if dummy else "storage", word_bits=word, block_size=block,
            depth_words=0 if dummy else depth * block,
            cluster_size=cluster,
            read_bandwidth=_number(attrs, "read_bandwidth"),
            write_bandwidth=_number(attrs, "write_bandwidth"),
            shared_bandwidth=_number(attrs, "shared_bandwidth"),
            read_pj=act.get("read", 0.0), fill_pj=act.get("write", 0.0),
            update_pj=act.get("update", 0.0), leak_pj=act.get("leak", 0.0),
        )
        levels.append(level)
    return levels


def _layer(spec: Any, path: Path) -> Layer:
    try:
        inst = spec["problem"]["instance"]
        d = {k: int(inst[k]) for k in _TIMELOOP_DIMS}
        ws, hs = int(inst.get("Wstride", 1)), int(inst.get("Hstride", 1))
        dil = (int(inst.get("Wdilation", 1)), int(inst.get("Hdilation", 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: no convolution problem instance ({exc})") from None
    if d["N"] != 1 or dil != (1, 1):
        raise UserError(f"{path}: batch N={d['N']} and dilation {dil} are not supported "
                        "(use N = 1 and dilation 1)")
    rows = int(inst.get("W", (d["P"] - 1) * ws + d["R"]))
    cols = int(inst.get("H", (d["Q"] - 1) * hs + d["S"]))
    return Layer("conv2d", (rows, cols, d["C"]), (d["P"], d["Q"], d["M"]), (d["R"], d["S"]),
                 (ws, hs), 1, None, path.parent.name)


def _factors(text: str, where: str) -> dict[str, int]:
    out = {}
    for token in str(text).split():
        match = re.fullmatch(r"([A-Z])(\d+)", token)
        if not match or match.group(1) not in _TIMELOOP_DIMS:
            raise UserError(f"{where}: bad factor {token!r} (expected e.g. 'M8')")
        out[match.group(1)] = int(match.group(2))
    return out


def _mapping(spec: Any, names: list[str], path: Path) -> Mapping:
    try:
        entries = spec["mapping"]
    except (KeyError, TypeError):
        raise UserError(f"{path}: no 'mapping' list") from None
    keep: dict[str, frozenset] = {}
    temporal: dict[str, tuple] = {}
    spatial: dict[str, tuple] = {}
    for entry in entries:
        target, kind = entry.get("target"), entry.get("type")
        where = f"{path}: {target} {kind}"
        if target not in names:
            raise UserError(f"{where}: no such level in the architecture")
        if kind in ("datatype", "bypass"):
            kept = set(entry.get("keep") or [])
            if kept - set(DATASPACES):
                raise UserError(f"{where}: unknown dataspaces {sorted(kept - set(DATASPACES))}")
            keep[target] = frozenset(kept)
            continue
        factors = _factors(entry.get("factors", ""), where)
        perm = str(entry.get("permutation", "".join(_TIMELOOP_DIMS)))
        if factors.get("N", 1) != 1:
            raise UserError(f"{where}: batch factors are not supported")
        order = [d for d in perm if d in factors and d != "N"]
        order += [d for d in factors if d not in order and d != "N"]
        if kind == "temporal":
            temporal[target] = tuple((d, factors[d]) for d in order)
        elif kind == "spatial":
            split = int(entry.get("split", len(perm)))
            axis = {d: "X" if i < split else "Y" for i, d in enumerate(perm)}
            spatial[target] = tuple((d, factors[d], axis.get(d, "Y")) for d in order)
        else:
            raise UserError(f"{where}: unknown mapping entry type {kind!r}")
    return Mapping(tuple(LevelMapping(n, temporal.get(n, ()), spatial.get(n, ()),
                                      keep.get(n, frozenset())) for n in names))


def read_reference(folder: str | Path) -> tuple[dict, Layer, Mapping]:
    """``(config, layer, mapping)`` of a Timeloop run folder (see the module docstring).

    ``config`` is a full ASIC config (the ``timeloop-eyeriss-like`` preset with this design's
    ``hierarchy``, MAC array and MAC energy), usable as ``get_cost_model("asic", **config)``.
    """
    from evoapproxnas.hardware.asic import PRESETS, TECH_TIMELOOP_32NM

    folder = Path(folder)
    missing = [f for f in FILES.values() if not (folder / f).is_file()]
    if missing:
        raise UserError(f"{folder} is not a Timeloop output folder: missing {', '.join(missing)}")
    spec = _load_yaml(folder / FILES["input"])
    ert = _load_yaml(folder / FILES["ert"])
    mapping_spec = _load_yaml(folder / FILES["map"])
    levels = _hierarchy(spec, _energies(ert, folder / FILES["ert"]), folder / FILES["input"])
    mac = levels[-1]
    mapping = _mapping(mapping_spec, [lv["name"] for lv in levels[:-1]], folder / FILES["map"])
    config = copy.deepcopy(PRESETS["timeloop-eyeriss-like"])
    config.update(pe_x=mac["mesh_x"], pe_y=mac["mesh_y"], hierarchy=levels)
    config["tech"] = dict(TECH_TIMELOOP_32NM, name=f"Accelergy ERT of {folder.name}",
                          mult_pj=mac["compute_pj"], add_pj=0.0)
    return config, _layer(spec, folder / FILES["input"]), mapping


_LINE = re.compile(r"^\s+([A-Za-z][A-Za-z ()-]*?)\s+:\s*([0-9.]+)")


def read_stats(folder: str | Path) -> dict:
    """Timeloop's results from ``timeloop-mapper.stats.txt``.

    Returns ``cycles``, ``macs``, ``energy_pj`` (sum of the levels), ``energy_by_level_pj``
    (each level's dataspaces plus its leakage; the MAC's compute energy), ``instances[level]``
    (utilised) and ``accesses[level][dataspace] = {"reads", "fills", "updates"}`` (per
    instance), for the levels listed under "Buffer and Arithmetic Levels".
    """
    path = Path(folder) / STATS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    out: dict = {"accesses": {}, "instances": {}, "energy_by_level_pj": {}}
    level = ds = None
    in_levels = True  # the per-level sections come first, then networks and summaries
    for line in lines:
        if line.startswith(("Networks", "Operational Intensity", "Summary Stats")):
            in_levels = False
        if (m := re.match(r"^Cycles: (\d+)", line)):
            out["cycles"] = int(m.group(1))
        if not in_levels:
            continue
        if (head := re.fullmatch(r"=== (\S+) ===", line.strip())):
            level, ds = head.group(1), None
            out["energy_by_level_pj"][level] = 0.0
            continue
        if (sub := re.fullmatch(r"    (Weights|Inputs|Outputs):", line)) and level:
            ds = sub.group(1)
            out["accesses"].setdefault(level, {})[ds] = {}
            continue
        if level is None or not (m := _LINE.match(line)):
            continue
        key, value = m.group(1), float(m.group(2))
        if key.startswith("Scalar ") and ds:
            out["accesses"][level][ds][key.split()[1]] = int(value)
        elif key in ("Utilized instances", "Utilized instances (max)"):
            out["instances"][level] = int(value)
        elif key == "Computes (total)":
            out["macs"] = int(value)
        elif key in ("Energy (total)", "Leakage energy (total)"):
            out["energy_by_level_pj"][level] += value
    if "cycles" not in out:
        raise UserError(f"{path}: no 'Summary Stats' section (not a Timeloop stats file)")
    out["energy_pj"] = sum(out["energy_by_level_pj"].values())
    return out
