"""Evaluation and termination policies the evaluator and the campaign loop ask: successive
halving (``halving``), weight inheritance (``inheritance``) and termination by generations
or a wall-clock budget (``termination``)."""
