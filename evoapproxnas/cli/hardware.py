"""``evoapproxnas hw``: hardware metrics of networks (``estimate``), a front member on a chain
of FPGAs (``pipeline``) and the presets (``presets``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evoapproxnas.errors import UserError
from evoapproxnas.metrics import METRICS
from evoapproxnas.overrides import parse_override


def register(subparsers) -> None:
    hw = subparsers.add_parser("hw", help="hardware cost models (ASIC, FPGA)")
    sub = hw.add_subparsers(dest="hw_command", required=True, metavar="SUBCOMMAND")
    est = sub.add_parser("estimate", help="hardware metrics of networks, before any training")
    src = est.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", metavar="DIR", help="a campaign run: its front members")
    src.add_argument("--keras", metavar="FILE", help="a saved .keras model")
    src.add_argument("--layers", metavar="FILE", help="a JSON list of layer records")
    est.add_argument("--model", choices=("asic", "fpga", "fpga_lu"),
                     help="cost model (default: the run's, else asic)")
    est.add_argument("--preset", help="preset name or .toml file (default: the model's)")
    est.add_argument("--search", metavar="METRIC",
                     help="search the hardware config that optimizes METRIC (e.g. edap, fps); "
                          "with --run: the run's search within its constraints by default")
    est.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key (dotted for nested, e.g. tech.dram_pj=512)")
    est.add_argument("--library", help="multiplier library for names in --layers/--keras")
    est.add_argument("--json", action="store_true", help="print JSON")
    est.set_defaults(func=cmd_estimate)
    pipe = sub.add_parser("pipeline", help="a front member on a chain of FPGAs (one layer "
                          "group per device): stages, fps and pipeline efficiency")
    pipe.add_argument("--run", metavar="DIR", required=True, help="a campaign run directory")
    pipe.add_argument("--member", metavar="K", type=int, required=True,
                      help="front member K, numbered as in 'evoapproxnas report'")
    pipe.add_argument("--fpgas", metavar="LIST", required=True,
                      help="comma-separated chain of FPGA presets or devices, in pipeline "
                           "order, e.g. zynq7020,zynq7020 or xc7z020,zcu102")
    pipe.add_argument("--preset", help="FPGA preset for the device names in --fpgas (default: "
                                       "the run's FPGA preset, else zynq7020)")
    pipe.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override an FPGA config key (e.g. clock_mhz=150)")
    pipe.add_argument("--json", action="store_true", help="print JSON")
    pipe.set_defaults(func=cmd_pipeline)
    pre = sub.add_parser("presets", help="list the presets of the cost models")
    pre.add_argument("--model", choices=("asic", "fpga", "fpga_lu"), help="only this model")
    pre.add_argument("--json", action="store_true", help="print JSON")
    pre.set_defaults(func=cmd_presets)
    from evoapproxnas.cli import learned

    learned.register(sub)


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        path, value = parse_override(item, example="pe_x=16")
        out[".".join(path)] = value
    return out


def _library_multiplier(name, library):
    if name is None:
        return None
    from evoapproxnas.multipliers import DEFAULT_LIBRARY, load_library

    return load_library(library or DEFAULT_LIBRARY)[name]


def networks_from_layers_file(path: str, library: str | None) -> dict[str, list]:
    """``{file stem: layers}`` from a JSON list of records (``multiplier`` = a name or null)."""
    from evoapproxnas.hardware.layers import layer_from_dict
    from evoapproxnas.paths import check_path

    if not path:
        raise UserError("--layers is empty; give a JSON file of layer records")
    try:
        records = json.loads(check_path(path, "layer file").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read layer file {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    except RecursionError:
        raise UserError(f"{path}: not a list of layer records (nested too deep)") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UserError(f"{path}: expected a JSON list of layer objects")
    layers = [layer_from_dict(r, _library_multiplier(r.get("multiplier"), library))
              for r in records]
    return {Path(path).stem: layers}


def networks_from_run(run_dir: str) -> tuple[dict[str, list], object]:
    """``{candidate hash: layers}`` of a run's front members (so far), and the run's config."""
    from evoapproxnas.hardware.layers import layers_from_graph
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(run_dir)
    choice = run.problem.choice
    return ({m.record.hash: layers_from_graph(run.network(m), choice)
             for m in run.front().members}, run.config)


def networks_from_keras(path: str, library: str | None) -> dict[str, list]:
    """Layer records of a saved Keras model's Conv2D / DepthwiseConv2D / Dense layers."""
    from evoapproxnas.hardware.layers import conv_layer, dense_layer
    from evoapproxnas.paths import check_path

    if not path:
        raise UserError("--keras is empty; give a saved .keras model")
    if not check_path(path, "Keras model").is_file():
        raise UserError(f"Keras model {path} does not exist")
    import keras  # lazily: the only TensorFlow path of the hardware package

    try:
        import evoapproxnas.approx  # noqa: F401  (registers the Approx* layers)
    except ImportError:
        pass
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (Keras raises many kinds)
        raise UserError(f"cannot load Keras model {path}: {exc}") from None
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        cfg = layer.get_config()
        mult = cfg.get("multiplier")
        mult = _library_multiplier(mult, cfg.get("library") or library) \
            if isinstance(mult, str) else None
        if kind.endswith("Dense"):
            n_in = int(layer.input.shape[-1])
            layers.append(dense_layer(n_in, cfg["units"], mult, layer.name))
        elif kind.endswith("Conv2D"):
            h, w, c = (int(v) for v in layer.input.shape[-3:])
            depthwise = "Depthwise" in kind
            c_out = c * cfg.get("depth_multiplier", 1) if depthwise else cfg["filters"]
            layers.append(conv_layer(h, w, c, c_out, tuple(cfg["kernel_size"]),
                                     tuple(cfg["strides"]), cfg["padding"],
                                     c if depthwise else cfg.get("groups", 1), mult, layer.name))
    return {Path(path).stem: layers}


def cmd_estimate(args: argparse.Namespace) -> int:
    from evoapproxnas.hardware.campaign import estimate_network

    overrides = _overrides(args.set)
    model, preset, search, constraints = args.model, args.preset, args.search, ()
    if args.run is not None:  # (an empty name is the reader's to refuse)
        if not (args.model or args.preset or args.search or args.set):
            as_run = run_designs(args.run)  # on the designs the run chose
            if as_run is not None:
                return _print_estimates(as_run[0], as_run[1], args.json)
        networks, cfg = networks_from_run(args.run)
        hw = cfg.hardware
        if model is None and hw.model:  # as the campaign priced its candidates
            model, preset = hw.model, preset or hw.preset or None
            overrides = {**dict(hw.overrides), **overrides}
            search = search or (hw.search_metric if hw.search else None)
            constraints = cfg.parsed_constraints
    elif args.keras is not None:
        networks = networks_from_keras(args.keras, args.library)
    else:
        networks = networks_from_layers_file(args.layers, args.library)
    model = model or "asic"
    results = {}
    for key, layers in networks.items():
        if not layers:
            raise UserError(f"network {key} has no multiplying layers")
        results[key] = estimate_network(layers, model, preset, search=bool(search),
                                        search_metric=search or "edap",
                                        overrides=overrides, constraints=constraints)
    return _print_estimates({"model": model, "preset": preset}, results, args.json)


def _print_estimates(head: dict, results: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps({**head, "networks": results}, indent=2))
        return 0
    for key, metrics in results.items():
        print(f"{key}:")
        for name, value in metrics.items():
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            unit = METRICS[name].unit if name in METRICS else ""
            print(f"  {name:16s} {text} {unit}".rstrip())
    return 0


def run_designs(run_dir: str) -> tuple[dict, dict] | None:
    """The hardware metrics of a run's front members on the designs the run gave them
    (``hardware.mode`` "joint": each member's hardware genes; "sequential": the best design
    for each member, as its finished front says; ``hardware_design`` names it), with the
    JSON head; ``None`` for runs of the other modes (their designs follow from the flags)."""
    from evoapproxnas.hardware.layers import layers_from_graph
    from evoapproxnas.search.study.rundir import RunDir

    run = RunDir(run_dir)
    hw = run.config.hardware
    if hw.mode not in ("joint", "sequential") or not hw.model:
        return None
    problem, results = run.problem, {}
    for member in run.front().members:
        layers = layers_from_graph(run.network(member), problem.choice)
        if not layers:
            raise UserError(f"network {member.record.hash} has no multiplying layers")
        genome = member.record.genome
        results[member.record.hash] = (
            hw.optimize(layers, run.config.parsed_constraints) if hw.mode == "sequential"
            else hw.estimate(layers, genes=problem.hardware_genes(genome)))
    return {"model": hw.model, "preset": hw.preset or None, "mode": hw.mode}, results


def cmd_pipeline(args: argparse.Namespace) -> int:
    """Print the best multi-FPGA pipeline of one front member of a run."""
    from evoapproxnas.hardware.layers import layers_from_graph
    from evoapproxnas.hardware.pipeline import search_pipeline
    from evoapproxnas.search.study.rundir import RunDir

    fpgas = [name.strip() for name in args.fpgas.split(",")]
    if not all(fpgas):
        raise UserError(f"--fpgas {args.fpgas!r}: give comma-separated FPGA presets or devices, "
                        "e.g. zynq7020,zynq7020")
    run = RunDir(args.run)
    member = run.front().member(args.member)
    layers = layers_from_graph(run.network(member), run.problem.choice)
    hw = run.config.hardware
    preset, overrides = args.preset, _overrides(args.set)
    if hw.model == "fpga":
        preset = preset or hw.preset or None
        overrides = {**dict(hw.overrides), **overrides}
    pipe = search_pipeline(layers, fpgas, preset, **overrides)
    stages = [{"device": device, "layers": [x.name for x in layers[a:b]], "first": a, "end": b,
               "cycles": cycles, "fps": pipe.clock_mhz * 1e6 / cycles, "design": design}
              for device, (a, b), cycles, design in zip(pipe.devices, pipe.stages,
                                                        pipe.stage_cycles, pipe.stage_designs)]
    if args.json:
        print(json.dumps({"member": args.member, "hash": member.record.hash, "stages": stages,
                          "clock_mhz": pipe.clock_mhz, "fps": pipe.fps,
                          "efficiency": pipe.efficiency}, indent=2))
        return 0
    print(f"member {args.member} ({member.record.hash}): {len(layers)} multiplying layers on "
          f"{' -> '.join(fpgas)}")
    for k, st in enumerate(stages):
        names = ", ".join(st["layers"])
        print(f"  stage {k}: {st['device']:10s} layers {st['first']}..{st['end'] - 1} "
              f"({names}): {st['cycles']:,.0f} cycles, {st['fps']:,.1f} fps; {st['design']}")
    print(f"  pipeline: {pipe.fps:,.1f} fps (slowest stage {pipe.slowest_cycles:,.0f} cycles "
          f"at {pipe.clock_mhz:g} MHz), efficiency {100 * pipe.efficiency:.1f} %")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from evoapproxnas.hardware.config import presets

    models = [args.model] if args.model else ["asic", "fpga"]
    data = {m: presets(m) for m in models}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for model, table in data.items():
        for name, cfg in table.items():
            flat = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
            print(f"{model} {name}: " + ", ".join(f"{k}={v}" for k, v in flat.items()))
            for k, v in cfg.items():
                if isinstance(v, dict):
                    print(f"  {k}: " + ", ".join(f"{kk}={vv}" for kk, vv in v.items()))
    return 0
