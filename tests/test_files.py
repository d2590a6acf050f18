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


# -- interrupts, fsync, a failed rename (the planted bugs: `except Exception`, no fsync) --------

@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_during_the_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, kind):
    p = tmp_path / "model.npz"
    p.write_bytes(b"old")

    def interrupted(f):
        f.write(b"half of the new file")
        raise kind()
    with pytest.raises(kind):
        atomic_write(p, interrupted)
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.npz"]


def test_the_file_and_its_folder_are_fsynced(tmp_path, monkeypatch):
    p = tmp_path / "out.bin"
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.fstat(fd))
        real(fd)
    monkeypatch.setattr(os, "fsync", spy)
    atomic_write(p, b"x" * 1000)
    final, folder = p.stat(), tmp_path.stat()
    files = [s for s in synced if stat.S_ISREG(s.st_mode)]
    folders = [s for s in synced if stat.S_ISDIR(s.st_mode)]
    # the temporary's inode is the final file's (it was renamed into place)
    assert [(s.st_ino, s.st_size) for s in files] == [(final.st_ino, 1000)]
    assert [(s.st_dev, s.st_ino) for s in folders] == [(folder.st_dev, folder.st_ino)]
    # the folder is synced after the rename (else the rename may not survive a power cut)
    assert synced.index(folders[0]) > synced.index(files[0])


def test_a_failed_rename_keeps_the_old_file_removes_the_temporary_and_says_so(tmp_path, monkeypatch):
    p = tmp_path / "model.npz"
    p.write_bytes(b"old")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError) as e:
        atomic_write(p, b"new")
    assert e.value.strerror.startswith("Permission denied")
    assert "previous file is unchanged" in e.value.strerror
    assert e.value.filename == str(p)
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.npz"]


# -- leftovers of killed saves --------------------------------------------------------------------

def _dead_pid() -> int:
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid       # reaped: no process has this id now (until it is reused, much later)


def test_temporaries_are_named_for_their_file_and_process(tmp_path):
    from chainrule.files import temp_name
    name = os.path.basename(temp_name(str(tmp_path / "model.npz"), ".npz"))
    assert name.startswith(".model.npz.chainrule-tmp-" + str(os.getpid()) + "-")
    assert name.endswith(".npz")


def test_the_next_save_removes_our_dead_leftovers_and_nothing_else(tmp_path):
    from chainrule.files import STALE_AFTER, TAG
    dead, live = _dead_pid(), os.getpid()
    stray = tmp_path / f".model.npz{TAG}{dead}-0123abcd.npz"
    stray.write_bytes(b"killed mid-save")
    mine = tmp_path / f".model.npz{TAG}{live}-89abcdef.npz"      # a save still running (another thread)
    mine.write_bytes(b"in progress")
    old = tmp_path / f".other.png{TAG}{live}-deadbeef.png"         # live pid, but a day old
    old.write_bytes(b"forgotten")
    past = os.stat(old).st_mtime - STALE_AFTER - 60
    os.utime(old, (past, past))
    keep = [".tmp-123-something", f"model.npz{TAG}{dead}-0123abcd",   # not ours: no leading dot
            f".notes{TAG}{dead}-xyz", "user.txt"]
    for k in keep:
        (tmp_path / k).write_text("someone else's")
    atomic_write(tmp_path / "model.npz", b"new")
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["model.npz", mine.name])


_SAVER = r"""
import sys, time
from chainrule.files import atomic_write
path, tag, mode = sys.argv[1], sys.argv[2], sys.argv[3]
chunk = (tag * 4096).encode()
def slow(f):
    for i in range(64):
        f.write(chunk)
        if i == 8:
            print("writing", flush=True)
            if mode == "hang":
                time.sleep(60)
atomic_write(path, slow, suffix=".npz")
print("done", flush=True)
"""


def _whole(data: bytes) -> bool:
    """A complete file of one save: 64 chunks of one repeated 8-byte tag."""
    return len(data) == 64 * 4096 * 8 and data == data[:8] * (len(data) // 8)


def test_kill_9_mid_save_keeps_the_previous_file_and_at_most_one_temporary(tmp_path):
    import random
    import signal
    import subprocess
    import sys
    from chainrule.files import TAG
    target = tmp_path / "model.npz"
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(__file__), os.pardir, "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    rng = random.Random(0)
    previous = None
    for round_ in range(8):
        tag = f"round{round_:03d}"[:8]
        # even rounds: killed exactly mid-write; odd rounds: a random moment (maybe during the rename)
        mode = "hang" if round_ % 2 == 0 else "run"
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(target), tag, mode],
                                 stdout=subprocess.PIPE, env=env, text=True)
        assert child.stdout.readline().strip() == "writing"
        if mode == "run":
            import time
            time.sleep(rng.uniform(0, 0.02))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        temps = [n for n in os.listdir(tmp_path) if TAG in n]
        assert len(temps) <= 1, temps
        if target.exists():
            data = target.read_bytes()
            assert _whole(data)
            assert data[:8] in ({previous, tag.encode()} - {None})
            previous = data[:8]
        else:
            assert previous is None
    # an ordinary save afterwards cleans up and leaves exactly the new file
    atomic_write(target, b"final")
    assert os.listdir(tmp_path) == ["model.npz"]
    assert target.read_bytes() == b"final"
