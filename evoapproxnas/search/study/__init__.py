"""A campaign's storage (Optuna's "study and storage"): the run directory and its lock
(``rundir``), the append-only archive (``archive``), the engine's checkpoints
(``checkpoint``), the record types that cross files and processes (``records``) and what is
computed from records (``results``: fronts, hypervolume, history entries)."""
