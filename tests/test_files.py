"""atomic_write: the old file survives any failure; the new one has ordinary permissions."""
import os
import stat

import pytest

from chainrule.files import atomic_write


def test_writes_bytes_text_and_callables(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write(p, "héllo")
    assert p.read_text(encoding="utf-8") == "héllo"
    atomic_write(p, b"bytes")
    assert p.read_bytes() == b"bytes"
    atomic_write(p, lambda f: f.write(b"from a function"))
    assert p.read_bytes() == b"from a function"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "model.npz"
    p.write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")
    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
