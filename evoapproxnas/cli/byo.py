"""Bring your own network: ``approximate``, ``sweep`` and ``sensitivity`` of a trained Keras
model (see docs/byo.md). TensorFlow is imported inside the commands only."""

from __future__ import annotations

import os

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
    p.add_argument("--out", required=True, help="run directory to create (or continue)")
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
    p.add_argument("--out", required=True, help="output folder (created; files replaced)")
    p.add_argument("--multipliers", default="",
                   help="comma-separated multiplier names (default: the whole library)")
    p.add_argument("--val-images", type=int, default=2000, metavar="N",
                   help="validation images per measurement (default 2000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sensitivity)


def _positive(value: int, flag: str, zero: bool = False) -> None:
    if value < (0 if zero else 1):
        raise UserError(f"{flag} must be an integer >= {0 if zero else 1}, got {value}")


def _prepare(args, n_classes_needed: bool):
    """(dataset, loaded model, conversion) of the common arguments, every check first."""
    from evoapproxnas.approx.convert import check_fits, convert, load_model
    from evoapproxnas.approx.schemes import check_weight_quantization
    from evoapproxnas.data import load_dataset
    from evoapproxnas.multipliers import load_library

    _positive(args.calibration_images, "--calibration-images")
    check_weight_quantization(args.weight_quantization, "--weight-quantization")
    library = load_library(args.library)
    if getattr(args, "multiplier", None):
        _ = library[args.multiplier]  # unknown: UserError naming the closest
    model = load_model(args.model)
    dataset = load_dataset(args.data, args.data_dir or None, val_fraction=0.1, seed=args.seed)
    check_fits(model, dataset.input_shape, dataset.n_classes if n_classes_needed else None,
               f"dataset {args.data}")
    conversion = convert(model, getattr(args, "multiplier", None), args.library,
                         calibration_images=dataset.x_train[: args.calibration_images],
                         fold_batchnorm=args.fold_batchnorm,
                         weight_quantization=args.weight_quantization)
    if not conversion.converted:
        raise UserError(f"{args.model}: the model has no Conv2D, DepthwiseConv2D or Dense "
                        "layer to approximate")
    return dataset, conversion


def _check_out_file(out_text: str, overwrite: bool):
    from evoapproxnas.paths import check_path

    out = check_path(out_text, "--out")
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


def _approximate(args) -> int:
    from evoapproxnas.approx.convert import save_model

    out = _check_out_file(args.out, args.overwrite)
    _, conversion = _prepare(args, n_classes_needed=False)
    for line in conversion.report_lines():
        print(line)
    for bn, layer in conversion.folded:
        print(f"folded: {bn} into {layer}")
    save_model(conversion.model, out)
    print(f"{len(conversion.converted)} layers approximate; saved {out}")
    return 0


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _sweep(args) -> int:
    from evoapproxnas.search.byo.sweep import SweepSettings, run_sweep

    settings = SweepSettings(
        multipliers=tuple(_names(args.multipliers)), fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_images=args.fine_tune_images, val_images=args.val_images,
        test_images=args.test_images, exact_head=args.exact_head, seed=args.seed)
    settings.check()
    dataset, conversion = _prepare(args, n_classes_needed=True)
    for line in conversion.report_lines():
        print(line)
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

    _positive(args.val_images, "--val-images")
    dataset, conversion = _prepare(args, n_classes_needed=True)
    for line in conversion.report_lines():
        print(line)
    result = run_sensitivity(conversion.model, dataset, args.out, library=args.library,
                             multipliers=_names(args.multipliers), val_images=args.val_images,
                             progress=not args.quiet)
    from evoapproxnas.plots.byo import plot_sensitivity

    result.paths.append(plot_sensitivity(result.layers, result.multipliers, result.drop,
                                         result.paths[0].parent / "sensitivity.png"))
    print(result.table())
    for path in result.paths:
        print(path)
    return 0
