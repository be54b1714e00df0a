"""Hardware cost models (no TensorFlow): ASIC (Eyeriss-like) and FPGA (tiled engine,
partitioning, multi-FPGA pipelines), and fast hardware exploration. See docs/hardware.md."""

from evoapproxnas.hardware import asic, fpga, quantized  # noqa: F401  (register the models)
from evoapproxnas.hardware.campaign import HardwareConfig, estimate_network
from evoapproxnas.hardware.config import MODELS, get_cost_model, presets, register_model
from evoapproxnas.hardware.explore import search_hardware
from evoapproxnas.hardware.layers import (
    Layer,
    conv_layer,
    dense_layer,
    layers_from_graph,
    layers_from_records,
)
from evoapproxnas.hardware.partition import brute_force_designs, pareto_designs
from evoapproxnas.hardware.pipeline import search_pipeline

__all__ = [
    "MODELS",
    "HardwareConfig",
    "Layer",
    "brute_force_designs",
    "conv_layer",
    "dense_layer",
    "estimate_network",
    "get_cost_model",
    "layers_from_graph",
    "layers_from_records",
    "pareto_designs",
    "presets",
    "register_model",
    "search_hardware",
    "search_pipeline",
]
