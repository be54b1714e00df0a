"""Evolution campaigns: engines (pymoo NSGA-II, DEAP NSGA-II, random), evaluation pipeline,
crash-safe run directories (archive + checkpoints) and the ``run/resume/report/plot/export``
commands. No TensorFlow at import time: training happens in worker processes."""
