"""Writing files so that a failure never loses the old one."""
from __future__ import annotations

import os
import tempfile
from typing import Callable

__all__ = ["atomic_write"]


def atomic_write(path, write: Callable | bytes | str, *, suffix: str = "") -> str:
    """Write ``path`` via a temporary file in the same folder and ``os.replace``.

    ``write`` is the content (bytes or text) or a function given the open binary
    file. Either the old file or the complete new one exists at every moment.
    The new file gets the usual permissions (0666 less the umask), not
    ``mkstemp``'s private 0600.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(write):
                write(f)
            else:
                f.write(write.encode("utf-8") if isinstance(write, str) else write)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
