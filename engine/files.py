"""Writing files so that a failure never leaves half a file: the old one stays until the new one is whole."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

PathLike = str | os.PathLike


def atomic_write(path: PathLike, write: Callable[[IO[Any]], None], *, binary: bool = False) -> Path:
    """Replace ``path`` with what ``write(file)`` writes, all at once or not at all.

    ``write`` gets a temporary file in the same folder (text in UTF-8, or bytes
    when ``binary``); it is flushed, fsynced and moved over ``path`` with
    ``os.replace``, which is atomic. If anything fails (or is interrupted) the
    temporary file is removed and ``path`` keeps its old content. A replaced file
    keeps its permission bits; a new one gets the usual ones (0o666 minus umask).
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {str(target)!r}: folder {str(folder)!r} does not exist")
    temp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileNotFoundError):  # a new file keeps the umask's mode
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    return target


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
