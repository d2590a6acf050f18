"""Writing files so that a failure never loses the old one, nor leaves a temporary behind.

A save writes ``.NAME.chainrule-tmp-PID-RANDOM`` next to ``NAME``, flushes
and fsyncs it, renames it over ``NAME`` (``os.replace`` is atomic) and fsyncs
the folder, so the rename itself survives a power cut. A save that is
killed outright (``kill -9``, a power cut) cannot clean up after itself; the
next save into the same folder removes such leftovers, but only ours (the
name says so) and only when the process that wrote them is gone or the file
is older than :data:`STALE_AFTER` seconds. So at any moment a folder holds at
most one stray temporary per killed save that has not been followed by another.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from typing import Callable

__all__ = ["atomic_write", "temp_name", "remove_stale_temps", "STALE_AFTER"]

TAG = ".chainrule-tmp-"
# A temporary of a live process is left alone unless it is older than this:
# no save takes a day, and a PID from another machine (a shared folder) proves nothing.
STALE_AFTER = 24 * 3600.0
_OURS = re.compile(r"^\..*" + re.escape(TAG) + r"(\d+)-[0-9a-f]{8}(\.[A-Za-z0-9]{1,8})?$")


def temp_name(path: str, suffix: str = "") -> str:
    """``folder/.NAME.chainrule-tmp-PID-RANDOM[suffix]`` for the target ``path``."""
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base[:100]}{TAG}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True   # someone else's live process (or a pid we cannot ask about): not ours to judge
    return True


def remove_stale_temps(folder: str, now: float | None = None) -> list[str]:
    """Delete our leftover temporaries in ``folder``; return the names removed.

    Only names made by :func:`temp_name` are considered, and of those only the
    ones whose writing process no longer runs or that are older than
    :data:`STALE_AFTER`. Anything that cannot be read or removed is skipped.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = os.scandir(folder)
    except OSError:
        return removed
    with entries:
        for entry in entries:
            m = _OURS.match(entry.name)
            if not m:
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER
                if old or not _alive(int(m.group(1))):
                    os.unlink(entry.path)
                    removed.append(entry.name)
            except OSError:
                continue
    return removed


def _fsync_folder(folder: str) -> None:
    """Make the rename durable. Not possible on Windows (nor needed there)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass   # some file systems refuse fsync on a folder; the data itself is already synced
    finally:
        os.close(fd)


def atomic_write(path, write: Callable | bytes | str, *, suffix: str = "") -> str:
    """Write ``path`` via a temporary file in the same folder and ``os.replace``.

    ``write`` is the content (bytes or text) or a function given the open binary
    file. Either the old file or the complete new one exists at every moment,
    whatever happens (an exception, Ctrl-C, ``SystemExit``): the temporary is
    removed on any failure, and a kill's leftover is removed by the next save.
    The new file gets the usual permissions (0666 less the umask), not
    ``mkstemp``'s private 0600. A failed rename raises the ``OSError`` with a
    message saying the previous file is unchanged.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temps(folder)
    tmp = temp_name(path, suffix)
    umask = os.umask(0)
    os.umask(umask)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(write):
                write(f)
            else:
                f.write(write.encode("utf-8") if isinstance(write, str) else write)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask)   # O_CREAT's mode is only a ceiling on some systems
        try:
            os.replace(tmp, path)
        except OSError as e:
            why = (f"{e.strerror or e} (could not rename the new file into place; "
                   "the previous file is unchanged)")
            raise (type(e)(e.errno, why, path) if e.errno is not None else type(e)(why)) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)
    return path
