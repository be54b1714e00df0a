"""The learned hardware evaluator (DANCE, Choi et al., DAC 2021): a cost estimation network
(network, accelerator) -> latency, energy, area and a hardware generation network network ->
accelerator, both trained on data made by our own ASIC cost model (see docs/dance.md).

``dataset`` (no TensorFlow) samples and prices the training data; ``encoding`` (no
TensorFlow) turns networks and accelerators into numbers; ``train`` builds and trains the
Keras networks (TensorFlow imported there only); ``evaluator`` loads a saved evaluator and
predicts with numpy (no TensorFlow), which is what campaigns use.
"""
