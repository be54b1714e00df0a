"""The one owner of a run directory: create, open and check, and every file in it.

Layout::

    run.json             marker + format + status ("running" / "finished") + the versions
                         of the packages that decide results
    config.json          the resolved config (overrides applied)
    shape.json           input shape and class count of the dataset
    archive.jsonl        every evaluation (``EvaluationRecord``), append-only, fsynced
    history.json         one entry per finished generation (front size, hypervolume ...)
    checkpoint.pkl       the engine after the last generation (+ checkpoint.prev.pkl)
    models/              trained weights per candidate hash (<hash>.weights.npz)
    front.json           the final Pareto front, re-evaluated on the test set
    plots/               figures
    writer.lock          held (POSIX lock) by the one process writing the directory

Viewing a run (report, plot, export) reads data formats only (JSON, npz) and never executes
anything from the directory: the checkpoint pickle is read by ``resume`` alone. A member's
network is rebuilt from the config and ``shape.json``, without loading the dataset.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from evoapproxnas.atomic import new_directory, write_json
from evoapproxnas.config import CampaignConfig, config_from_dict, read_raw
from evoapproxnas.errors import UserError
from evoapproxnas.search.archive import Archive, read_records
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.records import EvaluationRecord, FrontMember, RecordError
from evoapproxnas.search.results import at_full_fidelity, pareto_front

RUN_FORMAT = "evoapproxnas-run-1"
RESULT_PACKAGES = ("evoapproxnas", "tensorflow", "keras", "numpy", "pymoo", "deap")
"""Packages whose version can change a campaign's candidates or results (``run.json``)."""
DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel")}
"""Names a package may be installed under (TensorFlow's CPU build is ``tensorflow-cpu``)."""


def package_versions() -> dict[str, str | None]:
    """Installed version of every ``RESULT_PACKAGES`` entry (``None``: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in RESULT_PACKAGES:
        versions[name] = None
        for distribution in DISTRIBUTIONS.get(name, (name,)):
            try:
                versions[name] = version(distribution)
                break
            except PackageNotFoundError:
                continue
    return versions
LOCK_FILE = "writer.lock"


@dataclass
class RunFront:
    """``front.json``: the Pareto front of a run and its per-generation history."""

    objectives: list[str]
    members: list[FrontMember]
    evaluations: int
    failed: int
    history: list[dict] = field(default_factory=list)
    unfinished: bool = False
    """True while the run has not finished: the front of the archive so far, no test set."""

    def to_dict(self) -> dict[str, Any]:
        out = {"objectives": list(self.objectives),
               "front": [m.to_dict() for m in self.members],
               "evaluations": self.evaluations, "failed": self.failed,
               "history": self.history}
        if self.unfinished:
            out["unfinished"] = True
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> RunFront:
        try:
            return cls(list(data["objectives"]),
                       [FrontMember.from_dict(m, f"{where}: front member {k}")
                        for k, m in enumerate(data["front"])],
                       int(data["evaluations"]), int(data["failed"]),
                       list(data.get("history", [])), bool(data.get("unfinished", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{where}: not an evoapproxnas front ({exc})") from None

    def member(self, k: int) -> FrontMember:
        """Member ``k`` as numbered by ``evoapproxnas report`` (``UserError`` if out of range)."""
        if not 0 <= k < len(self.members):
            raise UserError(f"--member {k} is out of range; the front has {len(self.members)} "
                            f"members (0..{len(self.members) - 1}, see 'evoapproxnas report')")
        return self.members[k]


class RunDir:
    """An existing run directory, checked on opening (``UserError`` if it is not one)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        marker = self.path / "run.json"
        if (not self.path.is_dir() or not marker.is_file()
                or not (self.path / "config.json").is_file()):
            raise UserError(f"{self.path} is not a run directory (no run.json/config.json); "
                            "give the --out folder of 'evoapproxnas run'")
        meta = read_raw(marker)
        if meta.get("format") != RUN_FORMAT:
            raise UserError(f"{marker}: unknown run format {meta.get('format')!r}")
        self._lock_fd: int | None = None

    # ---- creating -------------------------------------------------------------------------

    @classmethod
    def create(cls, out: str | os.PathLike, cfg: CampaignConfig, input_shape, n_classes: int,
               source: str, overwrite: bool = False) -> RunDir:
        """Create ``out`` holding the resolved config; an existing one only with ``overwrite``
        (and never while another process writes it)."""
        out = Path(out)
        if out.exists() and not overwrite:
            raise UserError(f"output directory {out} already exists; choose another --out or "
                            "pass --overwrite to replace it")
        if out.exists() and not out.is_dir():
            raise UserError(f"output path {out} is a file, not a directory; choose another --out")
        old = None
        try:
            if out.exists():
                with _writer_lock(out):  # refuse to replace a run that is being written
                    old = out.with_name(f".{out.name}.old.{os.getpid()}")
                    os.replace(out, old)
            with new_directory(out) as tmp:
                (tmp / "models").mkdir()
                write_json(tmp / "config.json", cfg.to_dict())
                write_json(tmp / "shape.json", {"input_shape": [int(v) for v in input_shape],
                                                "n_classes": int(n_classes)})
                write_json(tmp / "run.json", {"format": RUN_FORMAT, "status": "running",
                                              "source": str(source),
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                              "versions": package_versions()})
        except OSError as exc:
            if old is not None and not out.exists():
                os.replace(old, out)
            raise UserError(f"cannot create output directory {out}: {exc.strerror or exc}; "
                            "choose a writable --out") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return cls(out)

    # ---- the one writer -------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[RunDir]:
        """Hold the directory's writer lock for the block; a second writer gets ``UserError``.

        A POSIX record lock: the kernel drops it when its process dies, however it dies, so
        a killed run never leaves a stale lock, and worker processes do not inherit it.
        """
        with _writer_lock(self.path):
            yield self

    # ---- reading --------------------------------------------------------------------------

    @cached_property
    def config(self) -> CampaignConfig:
        return config_from_dict(read_raw(self.path / "config.json"),
                                str(self.path / "config.json"))

    @cached_property
    def shape(self) -> tuple[tuple[int, ...], int]:
        """Input shape and class count of the campaign's dataset (``shape.json``)."""
        info = read_raw(self.path / "shape.json")
        try:
            return tuple(int(v) for v in info["input_shape"]), int(info["n_classes"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{self.path / 'shape.json'}: expected input_shape and "
                            "n_classes") from None

    @cached_property
    def problem(self) -> CampaignProblem:
        """The campaign's problem, rebuilt from config and shape (no dataset is loaded)."""
        shape, n_classes = self.shape
        return CampaignProblem.build(self.config, shape, n_classes)

    @property
    def meta(self) -> dict[str, Any]:
        return read_raw(self.path / "run.json")

    def version_changes(self) -> list[str]:
        """``"name old -> new"`` for every result package whose installed version differs
        from the one the run was created with (empty for runs that predate the record)."""
        recorded = self.meta.get("versions")
        if not isinstance(recorded, dict):
            return []
        now = package_versions()
        return [f"{name} {recorded[name]} -> {now[name]}" for name in RESULT_PACKAGES
                if name in recorded and recorded[name] != now[name]]

    @property
    def archive(self) -> Archive:
        return Archive(self.path / "archive.jsonl")

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    def records(self) -> list[EvaluationRecord]:
        """Every archived evaluation, in archive order."""
        try:
            return read_records(self.path / "archive.jsonl")
        except RecordError as exc:
            raise UserError(f"{exc}; the archive is damaged") from None

    def history(self) -> list[dict]:
        """One entry per finished generation (``history.json``; [] before the first)."""
        path = self.path / "history.json"
        return list(read_raw(path)) if path.is_file() else []

    def front(self) -> RunFront:
        """``front.json`` of a finished run, else the archive's front so far (no test set)."""
        path = self.path / "front.json"
        if path.is_file():
            return RunFront.from_dict(read_raw(path), str(path))
        records = self.records()
        objectives = list(self.config.search.objectives)
        full = at_full_fidelity(records, self.config)
        return RunFront(objectives, [FrontMember(r) for r in pareto_front(full, objectives)],
                        len(records), sum(r.status == "failed" for r in records),
                        self.history(), unfinished=True)

    def network(self, member: FrontMember | EvaluationRecord):
        """The decoded network (``networkx.DiGraph``) of a member or record."""
        record = member.record if isinstance(member, FrontMember) else member
        return self.problem.decode(record.genome)

    def weights_path(self, key: str, epochs: int | None = None) -> Path:
        """Trained weights of a candidate (``model.get_weights()`` as an ``.npz``): after the
        full budget, or after ``epochs`` of a lower rung of successive halving (kept apart,
        so that the rung a promoted candidate continues from is never overwritten)."""
        if epochs is None or epochs >= self.config.training.epochs:
            return self.models_dir / f"{key}.weights.npz"
        return self.models_dir / f"{key}.e{epochs}.weights.npz"

    def load_model(self, member: FrontMember | EvaluationRecord):
        """The member's Keras model with its multipliers and trained weights (TensorFlow)."""
        record = member.record if isinstance(member, FrontMember) else member
        path = self.weights_path(record.hash, record.fidelity)
        if not path.is_file():
            raise UserError(f"{path} is missing: the weights of candidate {record.hash} were "
                            "not saved (was it trained in this run directory?)")
        return load_trained(self.problem, path, record.genome)

    # ---- writing (by the holder of the writer lock) ---------------------------------------

    def write_history(self, history: list[dict]) -> None:
        write_json(self.path / "history.json", history)

    def write_front(self, front: RunFront) -> None:
        write_json(self.path / "front.json", front.to_dict())

    def mark_finished(self) -> None:
        write_json(self.path / "run.json", {**self.meta, "status": "finished"})

    def record_search_end(self, generations: int, why: str) -> None:
        """Note in ``run.json`` that the search ended after ``generations`` generations
        (the time budget) and why: the decision outlives the checkpoints, so a replay of a
        run whose checkpoints are lost ends the search there too."""
        write_json(self.path / "run.json", {**self.meta, "ended_early": why,
                                            "search_generations": generations})


def read_weights(path: Path) -> list:
    """The arrays of a weights ``.npz`` (``model.get_weights()`` order)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as arrays:
        return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]


def load_trained(problem: CampaignProblem, weights: Path, genome):
    """A Keras model of ``genome`` with the weights saved at ``weights`` (``.npz``)."""
    from evoapproxnas.nn import build_model

    model = build_model(problem.decode(genome), problem.multipliers,
                        weight_quantization=problem.cfg.multipliers.weight_quantization)
    model.set_weights(read_weights(weights))
    return model


@contextmanager
def _writer_lock(run_dir: Path) -> Iterator[None]:
    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot lock {run_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise UserError(f"{run_dir} is being written by another process (pid {holder}); "
                            "wait for it to end, or stop it before resuming") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the lock
