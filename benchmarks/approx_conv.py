"""Speed and memory of approximate inference against float32 Keras (not part of the tests).

For every conv layer shape of a CIFAR-style ResNet-8 at batch 256 and for the whole network,
prints time(ApproxConv2D, exact table) / time(keras Conv2D float32) and the same with the dense
approximate table mul8u_L40, all measured in this run; then images per second of the
approximate ResNet-8 and its peak memory against the float32 model's (each measured in a
fresh subprocess as the growth of peak RSS during inference). The header names the SIMD build of
the op's hot loop that ran (``$EVOAPPROXNAS_OP_SIMD`` = avx512 | avx2 | generic picks one).

With ``--byo`` it measures instead a trained-model workflow (docs/byo.md): the CIFAR-style
ResNet-8 and ResNet-20 of ``experiments/reproduce_resnet_multipliers.py`` (batch norm, 32x32x3)
converted by ``approx.convert.approximate`` (batch norm folded, calibrated), through the
exact and the mul8u_L40 tables against the float32 Keras model at the same batch: time ratio,
images/s, and whether the op's output is bit-exact against the pure-TensorFlow fallback.

    python benchmarks/approx_conv.py [--batch 256] [--repeats 10] [--skip-layers] [--byo]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

TABLES = ("mul8u_1JFF", "mul8u_L40")
# (input h, w, cin, cout, kernel, stride) of the conv layers of ResNet-8 on 32x32x3
CONV_SHAPES = [
    (32, 32, 3, 16, 3, 1),
    (32, 32, 16, 16, 3, 1),
    (32, 32, 16, 32, 3, 2),
    (16, 16, 32, 32, 3, 1),
    (32, 32, 16, 32, 1, 2),
    (16, 16, 32, 64, 3, 2),
    (8, 8, 64, 64, 3, 1),
    (16, 16, 32, 64, 1, 2),
]


def resnet8(multiplier: str | None):
    """ResNet-8 (TFApprox/Keras-example style): Approx* layers when ``multiplier`` is given."""
    import keras

    from evoapproxnas.approx import ApproxConv2D, ApproxDense

    def conv(filters, k, s, name):
        if multiplier is None:
            return keras.layers.Conv2D(filters, k, s, padding="same", name=name)
        return ApproxConv2D(filters, k, s, padding="same", multiplier=multiplier, name=name)

    def dense(units):
        if multiplier is None:
            return keras.layers.Dense(units, name="fc")
        return ApproxDense(units, multiplier=multiplier, name="fc")

    inp = keras.Input((32, 32, 3))
    h = conv(16, 3, 1, "conv0")(inp)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    for i, (filters, stride) in enumerate([(16, 1), (32, 2), (64, 2)]):
        y = conv(filters, 3, stride, f"s{i}a")(h)
        y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
        y = keras.layers.BatchNormalization()(conv(filters, 3, 1, f"s{i}b")(y))
        if stride != 1:
            h = conv(filters, 1, stride, f"s{i}sc")(h)
        h = keras.layers.ReLU()(keras.layers.Add()([h, y]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, dense(10)(h))


def timed(fns: list, x, repeats: int) -> list[float]:
    """Fastest seconds of each ``fn(x)`` over ``repeats`` interleaved rounds (after a warm-up),
    so that load from other processes on a shared machine hits every variant alike."""
    for fn in fns:
        np.asarray(fn(x))
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            np.asarray(fn(x))
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def calibrate(model, x) -> None:
    """One training-mode pass so every Approx layer has a frozen input range."""
    model(x[:64], training=True)


def layer_rows(batch: int, repeats: int) -> None:
    import keras
    import tensorflow as tf

    from evoapproxnas.approx import ApproxConv2D

    rng = np.random.default_rng(0)
    print(f"{'conv layer (h,w,cin->cout,k,s)':34s} {'float ms':>9s}"
          + "".join(f" {t + ' x':>13s}" for t in TABLES))
    for h, w, cin, cout, k, s in CONV_SHAPES:
        x = tf.constant(np.maximum(rng.normal(size=(batch, h, w, cin)), 0).astype(np.float32))
        plain = keras.layers.Conv2D(cout, k, s, padding="same")
        plain.build(x.shape)
        fns = [tf.function(lambda v, layer=plain: layer(v))]
        for table in TABLES:
            layer = ApproxConv2D(cout, k, s, padding="same", multiplier=table)
            layer.build(x.shape)
            layer.set_weights(plain.get_weights() + [np.zeros(3, np.float32)])
            layer(x[:64], training=True)
            fns.append(tf.function(lambda v, layer=layer: layer(v, training=False)))
        base, *approx = timed(fns, x, repeats)
        ratios = [t / base for t in approx]
        label = f"{h}x{w}x{cin}->{cout} k{k} s{s}"
        print(f"{label:34s} {base * 1e3:9.2f}" + "".join(f" {r:13.2f}" for r in ratios))


def network_rows(batch: int, repeats: int) -> dict[str, float]:
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = tf.constant(rng.uniform(0, 1, size=(batch, 32, 32, 3)).astype(np.float32))
    labels = ("float32", *TABLES)
    fns = []
    for label in labels:
        model = resnet8(None if label == "float32" else label)
        if label != "float32":
            calibrate(model, x)
        fns.append(tf.function(lambda v, m=model: m(v, training=False)))
    secs = dict(zip(labels, timed(fns, x, repeats)))
    base = secs["float32"]
    print(f"\nResNet-8, batch {batch}: float32 {base * 1e3:.1f} ms ({batch / base:.0f} img/s)")
    for table in TABLES:
        print(f"  {table}: {secs[table] * 1e3:.1f} ms = {secs[table] / base:.2f}x float32, "
              f"{batch / secs[table]:.0f} img/s")
    return secs


def _experiment_resnet():
    """``resnet(depth, input_shape, n_classes)`` of the reproduction script."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "reproduce_resnet_multipliers.py"
    spec = importlib.util.spec_from_file_location("reproduce_resnet_multipliers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resnet


def byo_rows(batch: int, repeats: int) -> None:
    """Converted ResNet-8 and ResNet-20 through the tables against float32 Keras."""
    import tensorflow as tf

    from evoapproxnas.approx.convert import approximate
    from evoapproxnas.approx.ops import ENV_BACKEND

    resnet = _experiment_resnet()
    rng = np.random.default_rng(3)
    x = tf.constant(rng.uniform(0, 1, size=(batch, 32, 32, 3)).astype(np.float32))
    print(f"\nconverted trained-model workflow, batch {batch} (time / float32 Keras time)")
    for depth in (8, 20):
        model = resnet(depth, (32, 32, 3), 10)
        fns = [tf.function(lambda v, m=model: m(v, training=False))]
        converted = []
        for table in TABLES:
            conv = approximate(model, table, "evoapproxlib8u", calibration_images=x.numpy(),
                               fold_batchnorm=True)
            converted.append(conv)
            fns.append(tf.function(lambda v, m=conv: m(v, training=False)))
        base, *approx = timed(fns, x, repeats)
        print(f"ResNet-{depth}: float32 {base * 1e3:.1f} ms ({batch / base:.0f} img/s)")
        for table, secs, conv in zip(TABLES, approx, converted):
            op_out = np.asarray(conv(x[:16], training=False))
            os.environ[ENV_BACKEND] = "tf"
            try:
                tf_out = np.asarray(conv(x[:16], training=False))
            finally:
                del os.environ[ENV_BACKEND]
            exact = "bit-exact" if np.array_equal(op_out, tf_out) else "NOT bit-exact"
            print(f"  {table}: {secs * 1e3:.1f} ms = {secs / base:.2f}x float32, "
                  f"{batch / secs:.0f} img/s through the tables; op vs TF fallback: {exact}")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_memory_mb(label: str, batch: int) -> float:
    """Growth of resident memory (MiB, sampled every millisecond) from just before ResNet-8
    inference at ``batch`` to its peak during it, in a fresh process."""
    import threading

    import tensorflow as tf

    model = resnet8(None if label == "float32" else label)
    x = tf.constant(np.random.default_rng(2).uniform(size=(batch, 32, 32, 3)).astype(np.float32))
    if label != "float32":
        calibrate(model, x)
    fn = tf.function(lambda v: model(v, training=False))
    fn(x[:1])
    base = peak = _rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(3):
        np.asarray(fn(x))
    done.set()
    sampler.join()
    return max(peak, _rss_mb()) - base


def memory_rows(batch: int) -> None:
    peaks = {}
    for label in ("float32", *TABLES):
        out = subprocess.run(
            [sys.executable, __file__, "--memory", label, "--batch", str(batch)],
            capture_output=True, text=True, check=True,
        )
        peaks[label] = float(out.stdout.strip().splitlines()[-1])
    print(f"\nPeak resident-memory growth during inference, batch {batch}: "
          f"float32 {peaks['float32']:.1f} MiB")
    for table in TABLES:
        ratio = peaks[table] / max(peaks["float32"], 1e-9)
        print(f"  {table}: {peaks[table]:.1f} MiB = {ratio:.2f}x float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--memory", help=argparse.SUPPRESS)
    parser.add_argument("--skip-layers", action="store_true", help="only the whole network")
    parser.add_argument("--byo", action="store_true",
                        help="converted ResNet-8 and ResNet-20 (docs/byo.md) only")
    args = parser.parse_args()
    if args.memory:
        print(peak_memory_mb(args.memory, args.batch))
        return
    import tensorflow as tf

    from evoapproxnas.approx import build

    build.load()
    simd = build.simd_info()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, batch {args.batch}; ratios are "
          "time / time of the float32 Keras layer, best of interleaved runs in this run")
    print(f"op kernel: {simd.kernel} (CPU supports {', '.join(simd.supported)}; "
          f"${build.ENV_SIMD} {simd.requested or 'unset'})")
    if simd.fallback:
        print(f"warning: {simd.fallback_message()}")
    print()
    if args.byo:
        byo_rows(args.batch, args.repeats)
        return
    if not args.skip_layers:
        layer_rows(args.batch, args.repeats)
    network_rows(args.batch, args.repeats)
    memory_rows(args.batch)


if __name__ == "__main__":
    main()
