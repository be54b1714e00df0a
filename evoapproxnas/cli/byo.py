"""Bring your own network: ``approximate``, ``sweep`` and ``sensitivity`` of a trained Keras
model (see docs/byo.md).

Each command checks all its arguments first (``check_inputs``, the one helper of the three,
then its --out, then the dataset against the images the model file declares) and imports
TensorFlow only in ``convert_model``, when nothing is left to refuse but what Keras alone can
see (a file that has the form of a model but does not load, a class count that differs)."""

from __future__ import annotations

import os

from evoapproxnas.cli.checks import check_creatable, path_arg
from evoapproxnas.errors import UserError


def _model_args(p, *, library_help: str) -> None:
    p.add_argument("model", help="trained Keras model (.keras)")
    p.add_argument("--library", default="evoapproxlib8u", help=library_help)
    p.add_argument("--data", default="fashion_mnist",
                   help="dataset the model was trained on: fashion_mnist, cifar10, synthetic")
    p.add_argument("--data-dir", default="", help="folder of the dataset files")
    p.add_argument("--calibration-images", type=int, default=1000, metavar="N",
                   help="training images that calibrate the activation ranges (default 1000)")
    p.add_argument("--fold-batchnorm", action="store_true",
                   help="fold batch norms into the preceding Conv2D/DepthwiseConv2D/Dense")
    p.add_argument("--weight-quantization", default="per_tensor",
                   help="per_tensor (default) or per_channel")
    p.add_argument("--seed", type=int, default=1, help="seed of the validation split")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "approximate", help="turn a trained Keras model into one with approximate multipliers",
        description="Replace every Conv2D, DepthwiseConv2D and Dense of a trained Keras model "
                    "by its approximate layer (trained weights kept), calibrate the activation "
                    "ranges on training images and save the result.")
    _model_args(p, library_help="multiplier library (bundled name or folder)")
    p.add_argument("--multiplier", default=None,
                   help="multiplier of every layer (default: the library's exact one)")
    p.add_argument("--out", required=True, help="output file (.keras)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_approximate)

    p = subparsers.add_parser(
        "sweep", help="every multiplier of a library on all layers of a trained model",
        description="Evaluate a trained model with each multiplier of a library on all its "
                    "multiplying layers, with and without approximation-aware fine-tuning; "
                    "writes a run directory that report, plot, export and report --html read.")
    _model_args(p, library_help="multiplier library (bundled name or folder)")
    p.add_argument("--out", required=True,
                   help="run directory to create (or this same sweep's, to continue it)")
    p.add_argument("--multipliers", default="",
                   help="comma-separated multiplier names (default: the whole library)")
    p.add_argument("--fine-tune-epochs", type=int, default=0, metavar="N",
                   help="also fine-tune each through its tables for N epochs (0: no)")
    p.add_argument("--fine-tune-images", type=int, default=6000, metavar="N",
                   help="training images per fine-tuning epoch (default 6000)")
    p.add_argument("--val-images", type=int, default=2000, metavar="N",
                   help="validation images each variant is measured on (default 2000)")
    p.add_argument("--test-images", type=int, default=10000, metavar="N",
                   help="test images each variant is measured on (default 10000; 0: none)")
    p.add_argument("--exact-head", action="store_true",
                   help="keep the last multiplying layer (the classifier) exact")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)

    p = subparsers.add_parser(
        "sensitivity", help="accuracy drop when one layer at a time takes each multiplier",
        description="For every multiplying layer and every multiplier, the accuracy of the "
                    "model with that layer alone approximate; a table and a heat map.")
    _model_args(p, library_help="multiplier library (bundled name or folder)")
    p.add_argument("--out", required=True,
                   help="output folder: new, empty, or an earlier sensitivity's (its "
                        "sensitivity.* files are replaced)")
    p.add_argument("--multipliers", default="",
                   help="comma-separated multiplier names (default: the whole library)")
    p.add_argument("--val-images", type=int, default=2000, metavar="N",
                   help="validation images per measurement (default 2000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sensitivity)


SENSITIVITY_FILES = ("sensitivity.json", "sensitivity.md", "sensitivity.png")
"""What ``sensitivity`` writes into its --out folder (a folder holding only these is its own)."""


def _at_least(value: int, flag: str, low: int = 1) -> None:
    if value < low:
        raise UserError(f"{flag} must be an integer >= {low}, got {value}")


def check_inputs(args, multipliers: str | None = None):
    """The checks ``approximate``, ``sweep`` and ``sensitivity`` share, none of which loads
    anything heavy: the numbers, the weight quantization, the library and the multiplier
    names, the dataset's folder argument and the model file's form. Returns the
    ``ModelFile`` and the names of ``multipliers`` (comma-separated; ``None``: not asked)."""
    from evoapproxnas.approx.modelfile import check_model_file
    from evoapproxnas.approx.schemes import check_weight_quantization
    from evoapproxnas.multipliers import load_library
    from evoapproxnas.paths import check_path

    _at_least(args.calibration_images, "--calibration-images")
    _at_least(args.seed, "--seed", 0)
    check_weight_quantization(args.weight_quantization, "--weight-quantization")
    library = load_library(args.library)
    if getattr(args, "multiplier", None):
        _ = library[args.multiplier]  # unknown: UserError naming the closest
    names = []
    if multipliers is not None:
        names = _names(multipliers)
        for name in names:
            _ = library[name]
        if len(set(names)) != len(names):
            raise UserError("--multipliers names a multiplier twice")
    if args.data_dir:
        folder = check_path(args.data_dir, "--data-dir")
        if args.data == "synthetic":
            raise UserError("--data-dir: the synthetic dataset is generated, it has no files; "
                            "leave --data-dir out")
        if not folder.is_dir():
            raise UserError(f"--data-dir {folder} is not a folder; give the folder holding "
                            f"the {args.data} files")
    return check_model_file(args.model), names


def load_data(args, model_file):
    """The dataset of ``--data`` (numpy; ``UserError`` for an unknown name or missing files),
    checked against the images the model file declares it takes."""
    from evoapproxnas.data import load_dataset

    dataset = load_dataset(args.data, args.data_dir or None, val_fraction=0.1, seed=args.seed)
    model_file.check_images(dataset.input_shape, f"dataset {args.data}")
    return dataset


def convert_model(args, dataset, n_classes_needed: bool):
    """The model loaded by Keras and converted (TensorFlow from here on): after
    ``check_inputs`` and ``load_data``, when every argument has been checked."""
    from evoapproxnas.approx.convert import check_fits, convert, load_model

    model = load_model(args.model)
    check_fits(model, dataset.input_shape, dataset.n_classes if n_classes_needed else None,
               f"dataset {args.data}")
    conversion = convert(model, getattr(args, "multiplier", None) or None, args.library,
                         calibration_images=dataset.x_train[: args.calibration_images],
                         fold_batchnorm=args.fold_batchnorm,
                         weight_quantization=args.weight_quantization)
    if not conversion.converted:
        raise UserError(f"{args.model}: the model has no Conv2D, DepthwiseConv2D or Dense "
                        "layer to approximate")
    for line in conversion.report_lines():
        print(line)
    return conversion


def _check_out_file(out_text: str, overwrite: bool):
    out = path_arg(out_text)
    if out.suffix != ".keras":
        raise UserError(f"--out {out}: the file name must end with .keras")
    if out.is_dir():
        raise UserError(f"cannot write {out}: it is a folder; give a file name ending in .keras")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; choose another --out or pass --overwrite")
    folder = out.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {out}: {folder} is not a writable folder")
    return out


def _check_sweep_out(args, names: list[str], settings) -> None:
    """--out of ``sweep``: new (creatable), or the run directory of this same sweep (it
    continues); anything else that exists is refused."""
    from evoapproxnas.search.byo.sweep import sweep_config
    from evoapproxnas.search.study.rundir import RunDir

    out = path_arg(args.out)
    if not out.exists():
        check_creatable(out)
        return
    if not out.is_dir():
        raise UserError(f"--out {out} is a file; give a new folder (or the run directory of "
                        "this sweep, to continue it)")
    if not (out / "run.json").exists():
        raise UserError(f"--out {out} already exists and is not a sweep's run directory; "
                        "give a new folder")
    from evoapproxnas.multipliers import load_library

    swept = names or list(load_library(args.library).names)
    cfg = sweep_config(args.model, args.library, swept, (args.data, args.data_dir), settings,
                       args.model).to_dict()
    held = RunDir(out).config.to_dict()
    if {**held, "space": {**held["space"], "model": ""}} != {
            **cfg, "space": {**cfg["space"], "model": ""}}:
        raise UserError(f"{out} holds another run (other model or settings); choose another "
                        "--out")


def _check_sensitivity_out(out_text: str) -> None:
    """--out of ``sensitivity``: new (creatable), empty, or a folder holding only the files
    a sensitivity run writes (they are replaced)."""
    out = path_arg(out_text)
    if not out.exists():
        check_creatable(out)
        return
    if not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    others = sorted(p.name for p in out.iterdir() if p.name not in SENSITIVITY_FILES)
    if others:
        raise UserError(f"--out {out} holds other files ({others[0]}{', ...' if others[1:] else ''}"
                        "); give a new or empty folder, or the --out of an earlier sensitivity")
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into --out {out}: not a writable folder")


def _approximate(args) -> int:
    model_file, _ = check_inputs(args)
    out = _check_out_file(args.out, args.overwrite)
    dataset = load_data(args, model_file)
    conversion = convert_model(args, dataset, n_classes_needed=False)
    from evoapproxnas.approx.convert import save_model

    for bn, layer in conversion.folded:
        print(f"folded: {bn} into {layer}")
    save_model(conversion.model, out)
    print(f"{len(conversion.converted)} layers approximate; saved {out}")
    return 0


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _sweep(args) -> int:
    from evoapproxnas.search.byo.sweep import SweepSettings, run_sweep

    model_file, names = check_inputs(args, args.multipliers)
    settings = SweepSettings(
        multipliers=tuple(names), fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_images=args.fine_tune_images, val_images=args.val_images,
        test_images=args.test_images, exact_head=args.exact_head, seed=args.seed)
    settings.check()
    _check_sweep_out(args, names, settings)
    dataset = load_data(args, model_file)
    conversion = convert_model(args, dataset, n_classes_needed=True)
    result = run_sweep(conversion.model, dataset, args.out, settings, library=args.library,
                       data=(args.data, args.data_dir), source=args.model,
                       progress=not args.quiet)
    from evoapproxnas.plots.byo import plot_sweep

    result.path.joinpath("plots").mkdir(exist_ok=True)
    plot = plot_sweep({result.path.name: result.rows}, result.path / "plots" / "sweep.png")
    print(result.table())
    print(f"plot {plot}")
    print(f"run directory {result.path} (evoapproxnas report {result.path}); "
          f"{result.images_per_s:.0f} images/s through the tables")
    return 0


def _sensitivity(args) -> int:
    from evoapproxnas.search.byo.sensitivity import run_sensitivity

    model_file, names = check_inputs(args, args.multipliers)
    _at_least(args.val_images, "--val-images")
    _check_sensitivity_out(args.out)
    dataset = load_data(args, model_file)
    conversion = convert_model(args, dataset, n_classes_needed=True)
    result = run_sensitivity(conversion.model, dataset, args.out, library=args.library,
                             multipliers=names, val_images=args.val_images,
                             progress=not args.quiet)
    from evoapproxnas.plots.byo import plot_sensitivity

    result.paths.append(plot_sensitivity(result.layers, result.multipliers, result.drop,
                                         result.paths[0].parent / "sensitivity.png"))
    print(result.table())
    for path in result.paths:
        print(path)
    return 0
