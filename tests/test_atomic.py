"""Atomic writes: complete content or the old one, and ordinary file permissions."""

import os
import stat

import pytest

from evoapproxnas.atomic import write_bytes, write_json


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_file_has_the_permissions_of_an_ordinary_open(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_bytes(tmp_path / "a.bin", b"x")
        with open(tmp_path / "b.bin", "wb") as fh:  # what open() gives, the reference
            fh.write(b"x")
    finally:
        os.umask(old)
    got = stat.S_IMODE((tmp_path / "a.bin").stat().st_mode)
    assert got == stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_the_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_bytes(target, "not bytes")  # fails inside the temporary file's write
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
