"""Figures: Pareto fronts, convergence, multiplier libraries and network drawings."""
