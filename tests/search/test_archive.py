"""Archive: append-only JSON lines that survive a torn last line; atomic checkpoints."""

import json

import numpy as np
import pytest

from evoapproxnas.search.archive import Archive, read_records, without_timings
from evoapproxnas.search.checkpoint import load_checkpoint, save_checkpoint


def test_append_and_read(tmp_path):
    archive = Archive(tmp_path / "a.jsonl")
    for i in range(3):
        archive.append({"hash": f"h{i}", "timings": {"t": i}})
    assert [r["hash"] for r in read_records(tmp_path / "a.jsonl")] == ["h0", "h1", "h2"]
    assert without_timings({"hash": "x", "timings": {}}) == {"hash": "x"}
    assert read_records(tmp_path / "missing.jsonl") == []


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    path = tmp_path / "a.jsonl"
    good = json.dumps({"hash": "h0"}) + "\n"
    path.write_text(good + '{"hash": "h1", "gen')  # a kill in the middle of a write
    assert read_records(path) == [{"hash": "h0"}]
    archive = Archive(path)
    archive.append({"hash": "h2"})
    assert [r["hash"] for r in read_records(path)] == ["h0", "h2"]


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"hash": 1}\nnot json\n{"hash": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_records(path)


def test_checkpoint_round_trip_keeps_rng_state(tmp_path):
    assert load_checkpoint(tmp_path) is None
    rng = np.random.default_rng(3)
    rng.random(5)
    save_checkpoint(tmp_path, {"rng": rng, "generation": 2})
    state = load_checkpoint(tmp_path)
    assert state["generation"] == 2
    assert state["rng"].random() == rng.random()
    assert not list(tmp_path.glob(".*tmp"))
