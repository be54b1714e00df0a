"""Archive: append-only JSON lines of evaluation records that survive a torn last line;
atomic checkpoints with a previous one to fall back to."""

import json
import pickle

import numpy as np
import pytest

from evoapproxnas.search.study.archive import Archive, read_records
from evoapproxnas.search.study.checkpoint import (
    CHECKPOINT_FILE,
    PREVIOUS_FILE,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from evoapproxnas.search.study.records import EvaluationRecord, FrontMember, RecordError


def record(key: str, **changes) -> EvaluationRecord:
    fields = {"hash": key, "generation": 0, "index": 0, "genome": [1, 2, 3], "status": "ok",
              "reason": None, "violation": 0.0, "metrics": {"val_accuracy": 0.5}, "seed": 1,
              "timings": {"train_s": 1.5}, "objectives": {"error": 0.5}}
    return EvaluationRecord(**{**fields, **changes})


def test_append_and_read(tmp_path):
    archive = Archive(tmp_path / "a.jsonl")
    for i in range(3):
        archive.append(record(f"h{i}", index=i))
    back = read_records(tmp_path / "a.jsonl")
    assert [r.hash for r in back] == ["h0", "h1", "h2"]
    assert back[2] == record("h2", index=2)
    assert back[0].without_timings() == {k: v for k, v in record("h0").to_dict().items()
                                         if k != "timings"}
    assert read_records(tmp_path / "missing.jsonl") == []


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    path = tmp_path / "a.jsonl"
    good = json.dumps(record("h0").to_dict()) + "\n"
    path.write_text(good + '{"hash": "h1", "gen')  # a kill in the middle of a write
    assert [r.hash for r in read_records(path)] == ["h0"]
    archive = Archive(path)
    archive.append(record("h2"))
    assert [r.hash for r in read_records(path)] == ["h0", "h2"]


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "a.jsonl"
    line = json.dumps(record("h0").to_dict())
    path.write_text(f"{line}\nnot json\n{line}\n")
    with pytest.raises(ValueError, match="line 2"):
        read_records(path)


def test_a_line_that_is_not_a_record_is_named(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(record("h0").to_dict()) + '\n{"hash": "h1"}\n')
    with pytest.raises(RecordError, match="line 2: missing field"):
        read_records(path)
    bad = record("h3").to_dict() | {"status": "great"}
    with pytest.raises(RecordError, match="unknown status"):
        EvaluationRecord.from_dict(bad)


def test_front_member_round_trips_through_json():
    member = FrontMember(record("h0"), test_accuracy=0.75, val_accuracy_reloaded=0.5)
    data = json.loads(json.dumps(member.to_dict()))
    assert data["hash"] == "h0" and data["test_accuracy"] == 0.75
    assert FrontMember.from_dict(data) == member


def test_checkpoint_round_trip_keeps_rng_state(tmp_path):
    assert load_checkpoint(tmp_path) is None
    rng = np.random.default_rng(3)
    rng.random(5)
    save_checkpoint(tmp_path, Checkpoint(engine=rng, generation=2))
    state = load_checkpoint(tmp_path)
    assert state.generation == 2
    assert state.engine.random() == rng.random()
    assert not list(tmp_path.glob(".*tmp"))


def test_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path):
    save_checkpoint(tmp_path, Checkpoint(engine=None, generation=1))
    save_checkpoint(tmp_path, Checkpoint(engine=None, generation=2))
    assert pickle.loads((tmp_path / PREVIOUS_FILE).read_bytes())["generation"] == 1
    data = (tmp_path / CHECKPOINT_FILE).read_bytes()
    (tmp_path / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])  # truncated
    said = []
    assert load_checkpoint(tmp_path, warn=said.append).generation == 1
    assert len(said) == 1 and "checkpoint.pkl is unreadable" in said[0]
    assert "checkpoint.prev.pkl" in said[0] and "\n" not in said[0]
    (tmp_path / PREVIOUS_FILE).write_bytes(b"garbage")
    said.clear()
    assert load_checkpoint(tmp_path, warn=said.append) is None
    assert len(said) == 1 and "replaying" in said[0]
