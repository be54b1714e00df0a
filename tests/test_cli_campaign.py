"""Bad input to the campaign commands: one clear line on stderr, exit status 2, nothing
written or overwritten."""

from pathlib import Path

import pytest

from evoapproxnas.cli import main

TINY = Path(__file__).parent / "search" / "tiny.toml"


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.err.strip()


def assert_one_line_error(status, err, needle):
    assert status == 2
    assert err.startswith("evoapproxnas: error: ")
    assert "\n" not in err
    assert needle in err


def bad_config(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, needle", [
    ("[search]\npopulation = [", "malformed TOML"),
    ("[search]\ngenerashuns = 2", "unknown key search.generashuns"),
    ("[search]\nengine = 'cma'", "search.engine = 'cma' is not allowed"),
])
def test_bad_config_files(tmp_path, capsys, text, needle):
    out = tmp_path / "run"
    status, err = run_cli(capsys, "run", bad_config(tmp_path, text), "--out", out)
    assert_one_line_error(status, err, needle)
    assert not out.exists()


def test_unknown_multiplier_in_allowed_set(tmp_path, capsys):
    out = tmp_path / "run"
    status, err = run_cli(capsys, "run", TINY, "--out", out,
                          "--set", "multipliers.allowed=['mul8u_1JFF','mul8u_2AX']")
    assert_one_line_error(status, err, "unknown multiplier 'mul8u_2AX'")
    assert "mul8u_2AC" in err  # suggestion
    assert not out.exists()


def test_unknown_key_from_command_line(tmp_path, capsys):
    status, err = run_cli(capsys, "run", TINY, "--out", tmp_path / "r", "--set",
                          "search.popsize=4")
    assert_one_line_error(status, err, "unknown key search.popsize")


def test_missing_dataset(tmp_path, capsys):
    out = tmp_path / "run"
    status, err = run_cli(capsys, "run", TINY, "--out", out, "--set", "data.name=fashion_mnist",
                          "--set", f"data.dir='{tmp_path / 'nowhere'}'")
    assert_one_line_error(status, err, "Fashion-MNIST not found")
    assert not out.exists()


def test_existing_output_directory_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    status, err = run_cli(capsys, "run", TINY, "--out", out)
    assert_one_line_error(status, err, "already exists")
    assert "--overwrite" in err
    assert (out / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status, err = run_cli(capsys, "run", TINY, "--out", blocker / "run")
    assert_one_line_error(status, err, "cannot create output directory")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["resume", "report", "plot"])
def test_commands_on_a_directory_that_is_not_a_run(tmp_path, capsys, command):
    (tmp_path / "stuff.txt").write_text("x")
    status, err = run_cli(capsys, command, tmp_path)
    assert_one_line_error(status, err, "is not a run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stuff.txt"]


def test_export_needs_a_keras_file_name(tmp_path, capsys):
    status, err = run_cli(capsys, "export", tmp_path, "--member", "0", "--out",
                          tmp_path / "m.h5")
    assert_one_line_error(status, err, "must end with .keras")
