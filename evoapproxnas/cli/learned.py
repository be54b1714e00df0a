"""``evoapproxnas hw learn``: the learned hardware evaluator (DANCE): build its dataset with
the ASIC model, train it, and report its held-out error and its speed beside the model's."""

from __future__ import annotations

import json
import sys

from evoapproxnas.cli.checks import check_creatable, path_arg
from evoapproxnas.errors import UserError
from evoapproxnas.overrides import parse_override


def register(hw_sub) -> None:
    learn = hw_sub.add_parser("learn", help="the learned hardware evaluator (DANCE): dataset, "
                                            "training, error and speed report")
    sub = learn.add_subparsers(dest="learn_command", required=True, metavar="SUBCOMMAND")
    ds = sub.add_parser("dataset", help="sample networks and price them with the ASIC model "
                                        "at every accelerator of the search grid")
    ds.add_argument("--out", required=True, metavar="PATH",
                    help="dataset path (PATH.npz and PATH.json are written)")
    ds.add_argument("--networks", type=int, help="networks to sample (default 2000)")
    ds.add_argument("--seed", type=int, help="sampler seed (default 0)")
    ds.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another generator setting, e.g. depth=[2,6] (see docs/dance.md)")
    ds.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    ds.set_defaults(func=cmd_dataset)
    tr = sub.add_parser("train", help="train the cost estimation and hardware generation "
                                      "networks; print the held-out report")
    tr.add_argument("--dataset", required=True, metavar="PATH", help="a dataset of 'dataset'")
    tr.add_argument("--out", required=True, metavar="DIR|NAME",
                    help="evaluator folder, or a name (saved under the evaluator folder)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a training setting, e.g. epochs=60 (see docs/dance.md)")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing evaluator")
    tr.add_argument("--json", action="store_true", help="print the report as JSON")
    tr.set_defaults(func=cmd_train)
    rep = sub.add_parser("report", help="held-out error, generator accuracy and the time of "
                                        "a batch against the analytical model")
    rep.add_argument("evaluator", metavar="DIR|NAME", help="a trained evaluator")
    rep.add_argument("--dataset", metavar="PATH",
                     help="its dataset: time a batch of its held-out networks (and recompute "
                          "the error on them)")
    rep.add_argument("--batch", type=int, default=1000, help="pairs per timed batch (1000)")
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.set_defaults(func=cmd_report)


def _settings(items: list[str]) -> dict:
    out = {}
    for item in items:
        path, value = parse_override(item, example="epochs=60")
        out[".".join(path)] = value
    return out


def cmd_dataset(args) -> int:
    from evoapproxnas.hardware.config import get_cost_model
    from evoapproxnas.hardware.learned.dataset import (
        DatasetSettings,
        build_dataset,
        dataset_paths,
        multiplier_pool,
        partial_path,
    )
    from evoapproxnas.hardware.learned.encoding import Grid

    values = _settings(args.set)
    for key in ("networks", "seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    settings = DatasetSettings.from_dict({**DatasetSettings().to_dict(), **values}, "--set")
    if settings.seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {settings.seed}")
    multiplier_pool(settings)  # unknown library, preset or setting: now, not after a bar
    for flow, pe_y, pe_x, kib in Grid.from_dict(settings.grid).points:
        get_cost_model("asic", settings.preset, **dict(settings.overrides, dataflow=flow,
                                                       pe_y=pe_y, pe_x=pe_x, glb_kib=kib))
    npz, meta = dataset_paths(path_arg(args.out))
    if (npz.exists() or meta.exists()) and not args.overwrite:
        raise UserError(f"{npz} exists; give another --out or --overwrite")
    for path in (npz, meta):
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder; give another --out")
    if not npz.parent.is_dir():  # the files are written into an existing folder
        raise UserError(f"cannot write {npz}: {npz.parent} is not a folder; give another --out")
    from tqdm import tqdm

    partial = partial_path(path_arg(args.out))  # a killed build continues from it
    with tqdm(total=settings.networks, desc="pricing networks", unit="net", file=sys.stderr,
              disable=None) as bar:
        dataset = build_dataset(settings, bar.update, partial)
    path = dataset.save(args.out)
    partial.unlink(missing_ok=True)
    print(f"{path}: {dataset.table.n_networks} networks, {len(dataset.table.rows)} layers, "
          f"{dataset.targets.shape[0] * dataset.targets.shape[1]} (network, accelerator) pairs")
    return 0


def cmd_train(args) -> int:
    from evoapproxnas.hardware.learned.dataset import load_dataset
    from evoapproxnas.hardware.learned.evaluator import resolve
    from evoapproxnas.hardware.learned.train import TrainSettings, save_evaluator, train_evaluator

    settings = TrainSettings.from_dict(_settings(args.set))
    if settings.seed < 0:
        raise UserError(f"training setting seed must be an integer >= 0, got {settings.seed}")
    folder = resolve(path_arg(args.out))
    if folder.exists() and not args.overwrite:
        raise UserError(f"{folder} exists; give another --out or --overwrite")
    if folder.exists() and not (folder / "evaluator.json").is_file() and (
            not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"--overwrite would replace {folder}, which is not an evaluator; give "
                        "another --out")
    if not folder.exists():
        check_creatable(folder)
    dataset = load_dataset(path_arg(args.dataset, "--dataset"))
    trained = train_evaluator(dataset, settings, log=lambda m: print(m, file=sys.stderr))
    path = save_evaluator(trained, folder, overwrite=args.overwrite)
    report = trained.spec["report"]
    if args.json:
        print(json.dumps({"evaluator": str(path), **report}, indent=2))
    else:
        print(f"saved {path}")
        print(format_report(report))
    return 0


def cmd_report(args) -> int:
    import numpy as np

    from evoapproxnas.hardware.learned.evaluator import load_evaluator

    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    evaluator = load_evaluator(args.evaluator)
    report = dict(evaluator.spec.get("report", {}))
    if args.dataset:
        from evoapproxnas.hardware.learned.dataset import load_dataset
        from evoapproxnas.hardware.learned.speed import time_batch

        dataset = load_dataset(args.dataset)
        if dataset.settings.to_dict() != evaluator.spec["dataset"]:
            raise UserError(f"{args.dataset} is not the dataset this evaluator was trained on "
                            "(its generator settings differ)")
        t = evaluator.spec["training"]
        _, held = dataset.split(t["held_out"], np.random.default_rng(t["seed"]))
        report = evaluator.held_out_report(dataset, held)
        report["speed"] = time_batch(evaluator, dataset, held, args.batch,
                                     np.random.default_rng(0))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


TARGET_MAPE_PCT = 2.0
TARGET_BATCH_S = 0.010


def format_report(report: dict) -> str:
    """The report as lines: errors against the 2 % target, generator accuracy, speed."""
    if not report:
        return "no held-out report stored; give --dataset"
    lines = [f"held-out: {report['networks']} networks, {report['pairs']} (network, "
             "accelerator) pairs"]
    for name, value in report["mape_pct"].items():
        target = "" if name == "edap" else \
            f"  (target <= {TARGET_MAPE_PCT:g} %: {'met' if value <= TARGET_MAPE_PCT else 'NOT met'})"
        lines.append(f"  MAPE {name:15s} {value:7.2f} %   p95 {report['p95_ape_pct'][name]:7.2f} %"
                     + target)
    for key, what in (("generator", "generation network"),
                      ("estimator_search", "least predicted EDAP over the grid")):
        g = report[key]
        lines.append(f"  {what}: within 5 % of the best EDAP for {g['within_5pct_pct']:.1f} % "
                     f"of the networks, the best point itself for {g['exact_pct']:.1f} %, "
                     f"mean EDAP excess {g['mean_edap_excess_pct']:.2f} %")
    speed = report.get("speed")
    if speed:
        met = "met" if speed["predict_s"] <= TARGET_BATCH_S else "NOT met"
        lines.append(f"  a batch of {speed['batch']} pairs: learned {speed['predict_s'] * 1e3:.2f}"
                     f" ms (+ {speed['encode_s'] * 1e3:.2f} ms encoding; target <= "
                     f"{TARGET_BATCH_S * 1e3:g} ms: {met}); analytical "
                     f"{speed['analytical_cold_s'] * 1e3:.0f} ms (mapping cache empty), "
                     f"{speed['analytical_warm_s'] * 1e3:.1f} ms (every mapping cached); "
                     f"EDAP MAPE on the batch {speed['edap_mape_pct']:.2f} %")
    return "\n".join(lines)
