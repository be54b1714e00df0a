"""Bring your own network: the sweep of a library over a trained model, the per-layer
sensitivity map, and the run-directory side of the assignment space (docs/byo.md).

The modules import TensorFlow only inside the functions that evaluate a model.
"""
