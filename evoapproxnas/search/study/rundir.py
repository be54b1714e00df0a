"""The one owner of a run directory: create, open and check, and every file in it.

Layout::

    run.json             marker + format + status ("running" / "finished") + the versions
                         of the packages that decide results
    config.json          the resolved config (overrides applied)
    shape.json           input shape and class count of the dataset
    archive.jsonl        every evaluation (``EvaluationRecord``), append-only, fsynced
    history.json         one entry per finished generation (front size, hypervolume ...)
    checkpoint.pkl       the engine after the last generation (+ checkpoint.prev.pkl)
    clock.json           seconds the run has spent (``search.time_budget_s``), saved with
                         every finished candidate (``budget.WallClock.snapshot``)
    trained.jsonl        trained candidates of the batch in progress that wait for an
                         earlier one to be archived (``Evaluator``; emptied with each batch)
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
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from evoapproxnas.atomic import new_directory, write_json
from evoapproxnas.config import CampaignConfig, config_from_dict
from evoapproxnas.errors import UserError
from evoapproxnas.metrics import names as metric_names
from evoapproxnas.paths import check_path
from evoapproxnas.search.problem import CampaignProblem
from evoapproxnas.search.study.archive import Archive, read_records
from evoapproxnas.search.study.records import (
    EvaluationRecord,
    FrontMember,
    HistoryEntry,
    RecordError,
)
from evoapproxnas.search.study.results import at_full_fidelity, pareto_front

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
STATUSES = ("running", "finished")
"""``status`` of ``run.json``."""
MAX_SIDE = 1 << 16
"""Largest height, width or channel count ``shape.json`` may give."""
DAMAGED = ("the run directory is damaged; restore the file from a copy of the run, or start "
           "the run again")
"""What a message about a damaged file of a run directory ends with."""


def read_json(path: Path, what: str = "") -> Any:
    """The JSON data of a file of a run directory; ``UserError`` (one line, saying the
    directory is damaged) if it is missing, unreadable or not JSON."""
    hint = what or DAMAGED
    if not path.is_file():
        raise UserError(f"{path} is missing or not a file ({hint})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UserError(f"cannot read {path}: {reason}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: not valid JSON ({detail}); {hint}") from None


def _damaged(path: Path, problem: str) -> UserError:
    return UserError(f"{path}: {problem}; {DAMAGED}")


def check_meta(meta: Any, path: Path) -> dict[str, Any]:
    """``run.json``, checked: a JSON object of this format with well-typed fields."""
    if not isinstance(meta, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(meta).__name__}; "
                        "give the --out folder of 'evoapproxnas run'")
    if meta.get("format") != RUN_FORMAT:
        raise UserError(f"{path}: unknown run format {str(meta.get('format'))[:60]!r} "
                        f"(expected {RUN_FORMAT!r}); is it an evoapproxnas run directory?")
    if meta.get("status") not in STATUSES:
        raise _damaged(path, f"status must be one of {', '.join(STATUSES)}, "
                             f"got {str(meta.get('status'))[:60]!r}")
    generations = meta.get("search_generations", 0)
    if not isinstance(generations, int) or isinstance(generations, bool) or generations < 0:
        raise _damaged(path, f"search_generations must be an integer >= 0, "
                             f"got {str(generations)[:60]!r}")
    for key in ("source", "created", "ended_early"):
        if not isinstance(meta.get(key, ""), str):
            raise _damaged(path, f"{key} must be a string")
    versions = meta.get("versions", {})
    if not isinstance(versions, dict) or not all(
            v is None or isinstance(v, str) for v in versions.values()):
        raise _damaged(path, "versions must be an object of version strings (or null)")
    return meta


def check_history(history: Any, path: Path) -> list[HistoryEntry]:
    """The per-generation entries of a history (``HistoryEntry``), checked."""
    if not isinstance(history, list):
        raise _damaged(path, f"the history must be a JSON list, got {type(history).__name__}")
    try:
        return [HistoryEntry.from_dict(entry, f"history entry {k}")
                for k, entry in enumerate(history)]
    except RecordError as exc:
        raise _damaged(path, str(exc)) from None


@dataclass
class RunFront:
    """``front.json``: the Pareto front of a run and its per-generation history."""

    objectives: list[str]
    members: list[FrontMember]
    evaluations: int
    failed: int
    history: list[HistoryEntry] = field(default_factory=list)
    unfinished: bool = False
    """True while the run has not finished: the front of the archive so far, no test set."""

    def to_dict(self) -> dict[str, Any]:
        out = {"objectives": list(self.objectives),
               "front": [m.to_dict() for m in self.members],
               "evaluations": self.evaluations, "failed": self.failed,
               "history": [h.to_dict() for h in self.history]}
        if self.unfinished:
            out["unfinished"] = True
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> RunFront:
        """Parse ``front.json``; ``UserError`` naming what is missing or wrong."""
        def bad(problem: str) -> UserError:
            return UserError(f"{where}: not an evoapproxnas front ({problem}); delete it and "
                             "run 'evoapproxnas resume' on the run directory to write it again")

        if not isinstance(data, dict):
            raise bad(f"expected a JSON object, got {type(data).__name__}")
        missing = [k for k in ("objectives", "front", "evaluations", "failed") if k not in data]
        if missing:
            raise bad(f"missing field(s) {', '.join(missing)}")
        objectives, front = data["objectives"], data["front"]
        known = metric_names()
        if not isinstance(objectives, list) or not objectives or not all(
                isinstance(o, str) and o in known for o in objectives):
            raise bad(f"objectives must be a list of metric names, got {str(objectives)[:60]}")
        if not isinstance(front, list):
            raise bad(f"front must be a list of members, got {type(front).__name__}")
        counts = [data["evaluations"], data["failed"]]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            raise bad(f"evaluations and failed must be integers >= 0, got {str(counts)[:60]}")
        if not isinstance(data.get("unfinished", False), bool):
            raise bad("unfinished must be true or false")
        history = check_history(data.get("history", []), Path(where))
        try:
            members = [FrontMember.from_dict(m, f"{where}: front member {k}")
                       for k, m in enumerate(front)]
        except RecordError as exc:
            raise UserError(f"{exc}; delete {Path(where).name} and run 'evoapproxnas resume' "
                            "on the run directory to write it again") from None
        return cls(list(objectives), members, counts[0], counts[1], list(history),
                   data.get("unfinished", False))

    def member(self, k: int) -> FrontMember:
        """Member ``k`` as numbered by ``evoapproxnas report`` (``UserError`` if out of range)."""
        if not 0 <= k < len(self.members):
            raise UserError(f"--member {k} is out of range; the front has {len(self.members)} "
                            f"members (0..{len(self.members) - 1}, see 'evoapproxnas report')")
        return self.members[k]


class RunDir:
    """An existing run directory, checked on opening (``UserError`` if it is not one)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_path(path, "run directory")
        marker = self.path / "run.json"
        if (not self.path.is_dir() or not marker.is_file()
                or not (self.path / "config.json").is_file()):
            raise UserError(f"{self.path} is not a run directory (no run.json/config.json); "
                            "give the --out folder of 'evoapproxnas run'")
        check_meta(read_json(marker), marker)
        self._lock_fd: int | None = None

    # ---- creating -------------------------------------------------------------------------

    @classmethod
    def create(cls, out: str | os.PathLike, cfg: CampaignConfig, input_shape, n_classes: int,
               source: str, overwrite: bool = False) -> RunDir:
        """Create ``out`` holding the resolved config; an existing one only with ``overwrite``
        (and never while another process writes it)."""
        out = check_path(out, "output directory")
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
                saved = cfg.to_dict()
                if cfg.space.kind == "assignment":  # the run keeps its own copy of the model
                    from evoapproxnas.search.spaces.assignment import (
                        copy_model,
                        copy_sensitivity,
                    )

                    saved["space"]["model"] = copy_model(cfg, tmp)
                    if cfg.space.sensitivity:
                        saved["space"]["sensitivity"] = copy_sensitivity(cfg, tmp)
                write_json(tmp / "config.json", saved)
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
        path = self.path / "config.json"
        return config_from_dict(read_json(path), str(path))

    @cached_property
    def shape(self) -> tuple[tuple[int, ...], int]:
        """Input shape and class count of the campaign's dataset (``shape.json``)."""
        path = self.path / "shape.json"
        info = read_json(path)
        shape = info.get("input_shape") if isinstance(info, dict) else None
        n_classes = info.get("n_classes") if isinstance(info, dict) else None

        def is_int(v, low, high) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

        if not (isinstance(shape, list) and len(shape) == 3
                and all(is_int(v, 1, MAX_SIDE) for v in shape)
                and is_int(n_classes, 2, MAX_SIDE)):
            raise _damaged(path, "expected an object with input_shape (3 positive integers: "
                                 "height, width, channels) and n_classes (an integer >= 2)")
        return tuple(shape), n_classes

    @cached_property
    def problem(self) -> CampaignProblem:
        """The campaign's problem, rebuilt from config and shape (no dataset is loaded)."""
        shape, n_classes = self.shape
        return CampaignProblem.build(self.config, shape, n_classes)

    @property
    def meta(self) -> dict[str, Any]:
        """``run.json`` (checked)."""
        path = self.path / "run.json"
        return check_meta(read_json(path), path)

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
    def journal(self) -> Archive:
        """``trained.jsonl``: records trained and not archived yet (see the layout)."""
        return Archive(self.path / "trained.jsonl")

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
            raise UserError(f"{exc}; {DAMAGED}") from None
        except OSError as exc:
            raise UserError(f"cannot read {self.path / 'archive.jsonl'}: "
                            f"{exc.strerror or exc}") from None

    def history(self) -> list[HistoryEntry]:
        """One entry per finished generation (``history.json``; [] before the first)."""
        path = self.path / "history.json"
        return list(check_history(read_json(path), path)) if path.exists() else []

    def front(self) -> RunFront:
        """``front.json`` of a finished run, else the archive's front so far (no test set)."""
        path = self.path / "front.json"
        if path.exists():
            return RunFront.from_dict(read_json(path), str(path))
        records = self.records()
        objectives = list(self.config.search.objectives)
        full = at_full_fidelity(records, self.config)
        return RunFront(objectives, [FrontMember(r) for r in pareto_front(full, objectives)],
                        len(records), sum(r.status == "failed" for r in records),
                        self.history(), unfinished=True)

    def check_genome(self, member: FrontMember | EvaluationRecord) -> None:
        """``UserError`` unless the genome of a member or record fits the campaign's space
        (one that does not comes from a damaged file, or a config.json not the run's)."""
        record = member.record if isinstance(member, FrontMember) else member
        try:
            self.problem.space.validate(record.genome)
        except ValueError as exc:
            raise UserError(f"{self.path}: the genome of candidate {record.hash} does not fit "
                            f"the campaign's {self.config.space.kind} space ({exc}); "
                            f"{DAMAGED}") from None

    def network(self, member: FrontMember | EvaluationRecord):
        """The decoded network (``networkx.DiGraph``) of a member or record (``UserError`` if
        its genome does not fit the campaign's CGP spec: a damaged file)."""
        self.check_genome(member)
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
        if self.config.space.kind == "assignment":  # the run's fixed network (docs/byo.md)
            from evoapproxnas.search.byo.network import candidate_model, weights_of

            return candidate_model(self.problem, record.genome, weights_of(self, record.hash))
        path = self.weights_path(record.hash, record.fidelity)
        if not path.is_file():
            raise UserError(f"{path} is missing: the weights of candidate {record.hash} were "
                            "not saved (was it trained in this run directory?)")
        return load_trained(self.problem, path, record.genome)

    # ---- writing (by the holder of the writer lock) ---------------------------------------

    def write_history(self, history: list[HistoryEntry]) -> None:
        write_json(self.path / "history.json", [h.to_dict() for h in history])

    def read_clock(self) -> Any:
        """``clock.json`` as saved (``None`` if there is none yet or it is unreadable: the
        checkpoint's figures stand alone); ``budget.checked_snapshot`` checks its fields."""
        try:
            return json.loads((self.path / "clock.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return None

    def write_clock(self, clock: dict) -> None:
        """Save the run's clock (``budget.WallClock.snapshot``) atomically."""
        write_json(self.path / "clock.json", clock)

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
    """The arrays of a weights ``.npz`` (``model.get_weights()`` order); ``UserError`` if
    the file is not one (truncated, foreign)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = [f"arr_{i}" for i in range(len(arrays.files))]
            if sorted(names) != sorted(arrays.files):
                raise ValueError(f"unexpected arrays {', '.join(sorted(arrays.files)[:5])}")
            return [arrays[name] for name in names]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise UserError(f"{path}: not a readable weights file ({detail}); {DAMAGED}") from None


def load_trained(problem: CampaignProblem, weights: Path, genome):
    """A Keras model of ``genome`` with the weights saved at ``weights`` (``.npz``)."""
    from evoapproxnas.nn import build_model

    model = build_model(problem.decode(genome), problem.multipliers,
                        weight_quantization=problem.cfg.multipliers.weight_quantization)
    arrays = read_weights(weights)
    wanted = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(a.shape) for a in arrays] != wanted or any(
            a.dtype.kind not in "fiu" for a in arrays):
        raise UserError(f"{weights}: its arrays do not fit the candidate's network ({len(arrays)} "
                        f"arrays, the network has {len(wanted)}); {DAMAGED}")
    model.set_weights(arrays)
    return model


_HELD: set[str] = set()
"""Lock files this process holds. A POSIX record lock is per process: taking it again in the
same process succeeds, and closing any descriptor of the file releases it, so a second
writer within this process is refused here, before the file is opened again."""


@contextmanager
def _writer_lock(run_dir: Path) -> Iterator[None]:
    path = run_dir / LOCK_FILE
    key = os.path.realpath(path)
    if key in _HELD:
        raise UserError(f"{run_dir} is already being written by this process; a run directory "
                        "has one writer at a time")
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
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the lock
