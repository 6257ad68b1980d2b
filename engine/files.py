"""Writing files so that a failure never leaves half a file: the old one stays until the new one is whole.

``atomic_write`` writes into a temporary file beside the target and renames it over
the target once it is complete. A save that is killed outright (SIGKILL, power
loss) has no chance to remove its temporary file, so temporaries carry a name that
says whose they are, ``.<name>.chainrule-<12 hex>.tmp`` (``.chainrule-<16 hex of
the name's hash>-<12 hex>.tmp`` when the name is too long to fit), and the next
save of the same file removes the stale ones.

A temporary is stale when no save is still writing it. A writer holds an
exclusive ``flock`` on its temporary until the rename, and the system drops the
lock when the writer dies, however it dies; so a temporary that can be locked is
abandoned. As a second guard (for the instant between creating and locking, and
for filesystems without locks) only temporaries untouched for
``STALE_AFTER_SECONDS`` are removed: a concurrent writer's fresh file is never
touched. Nothing else in the folder is ever removed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

from engine.checks import check_bool, check_callable, check_path, check_real, fail, short_repr

try:  # POSIX; elsewhere the age of a temporary is the only sign that it is stale
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PathLike = str | os.PathLike

STALE_AFTER_SECONDS = 60.0
"""A temporary file left by a save is removed once it is unlocked and this many seconds old."""

_TOKEN_HEX = 12  # random hex digits in a temporary's name
_MAX_SYMLINKS = 40  # as the kernel's own limit for following links (ELOOP)
_DEFAULT_NAME_MAX = 255


def atomic_write(path: PathLike, write: Callable[[IO[Any]], None], *, binary: bool = False) -> Path:
    """Replace ``path`` with what ``write(file)`` writes, all at once or not at all; returns ``path``.

    ``write`` gets a temporary file in the same folder (text in UTF-8, or bytes
    when ``binary``); it is flushed, fsynced and moved over ``path`` with
    ``os.replace``, which is atomic. If anything fails (or is interrupted, e.g.
    Ctrl-C) the temporary file is removed and ``path`` keeps its old content; a
    save killed outright leaves its temporary, which the next save of ``path``
    removes (see the module's docstring for when a temporary counts as stale).

    - A replaced file keeps its permission bits; a new one gets the usual ones
      (0o666 minus the umask).
    - ``path`` a symbolic link: the file it points to is replaced and the link
      is kept, as text editors do (a chain of links is followed to its end; a
      link to a file that does not exist yet creates that file).
    - A file with other hard links gets a new inode: the other names keep the
      old content.
    - A name too long for a temporary beside it (near the filesystem's 255-byte
      limit) is written through a short temporary name.
    - The system's refusals (a missing folder, a file where a folder should be,
      a folder where the file should be, a name too long, no permission, a full
      disk) raise the usual ``OSError`` subclass with a message that names
      ``atomic_write`` and ``path`` and says which it was.
    """
    return write_file("atomic_write", path, write, binary=binary)


def write_file(
    caller: str, path: PathLike, write: Callable[[IO[Any]], None], *, binary: bool = False,
    make_folders: bool = False,
) -> Path:
    """``atomic_write``, its errors naming ``caller``; with ``make_folders`` missing folders are made."""
    given = check_path(caller, "path", path)
    binary = check_bool(caller, "binary", binary)
    check_callable(caller, "write", write, "a function of the open file")

    def refuse(code: int, reason: str) -> NoReturn:
        raise OSError(code, f"{caller}: cannot write {str(given)!r}: {reason}")  # OSError picks the subclass

    problem = _folder_problem(given, may_be_missing=make_folders)
    if problem is not None:
        refuse(*problem)
    if make_folders:
        try:
            given.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            refuse(error.errno, f"could not make folder {str(given.parent)!r}: {error.strerror}")
    _check_name_length(given, refuse)
    target = _follow_symlinks(given, refuse)
    folder = target.parent
    if not folder.is_dir():
        refuse(errno.ENOENT, f"it links to {str(target)!r}, whose folder does not exist")
    name_max = _check_name_length(target, refuse)
    if target.is_dir():
        refuse(errno.EISDIR, "it is a folder")
    with contextlib.suppress(OSError):  # cleaning up is a courtesy: it never stops a save
        remove_stale_temporaries(target)

    temp = folder / _temporary_name(target.name, name_max)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        refuse(error.errno, f"could not create a file in folder {str(folder)!r}: {error.strerror}")
    lock = None
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as file:
            lock = _hold_lock(fd)
            write(file)
            _system_step(refuse, "writing it", file.flush)
            _system_step(refuse, "writing it", os.fsync, file.fileno())
        with contextlib.suppress(FileNotFoundError):  # a new file keeps the umask's mode
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        _system_step(refuse, "putting the new file in place", os.replace, temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    _fsync_folder(folder)
    return given


def _system_step(refuse: Callable[[int, str], NoReturn], doing: str, step: Callable[..., object],
                 *arguments: object) -> None:
    """``step(*arguments)``, a refusal of the system (a full disk, no permission) said as ``refuse`` does."""
    try:
        step(*arguments)
    except OSError as error:
        refuse(error.errno, f"{error.strerror or error} ({doing})")


def _folder_problem(path: Path, may_be_missing: bool = False) -> tuple[int, str] | None:
    """Why ``path``'s folder cannot hold it, as (errno, reason): a missing folder (unless it
    ``may_be_missing``, to be made), a file where a folder should be, a name too long, no
    permission; None when there is none. Found from the top, so the reason names the culprit."""
    folder = path.parent
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.stat(folder).st_mode):
            return None
    parts = [*reversed(folder.parents), folder]
    for k, part in enumerate(parts):
        try:
            info = os.stat(part)
        except FileNotFoundError:
            if not may_be_missing:
                return errno.ENOENT, f"folder {str(folder)!r} does not exist"
            name_max = _name_max(parts[k - 1]) if k else _DEFAULT_NAME_MAX
            for later in parts[k:]:  # the folders that would be made
                if len(os.fsencode(later.name)) > name_max:
                    return errno.ENAMETOOLONG, _too_long(later.name, name_max)
            size = len(os.fsencode(path.name))
            if size > name_max:
                return errno.ENAMETOOLONG, _long_name(size, name_max)
            return None
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                name_max = _name_max(parts[k - 1]) if k else _DEFAULT_NAME_MAX
                if len(os.fsencode(part.name)) > name_max:
                    return error.errno, _too_long(part.name, name_max)
                size = len(os.fsencode(str(part)))
                return error.errno, f"the path is {size} bytes, too long for the system"
            return error.errno, f"cannot open folder {str(part)!r}: {error.strerror}"
        if not stat.S_ISDIR(info.st_mode):
            return errno.ENOTDIR, f"{str(part)!r} is a file, not a folder"
    return errno.ENOTDIR, f"{str(folder)!r} is not a folder"  # pragma: no cover - changed as we looked


def _long_name(size: int, name_max: int) -> str:
    return f"its name is {size} bytes, more than this folder's limit of {name_max}"


def _too_long(folder_name: str, name_max: int) -> str:
    shown = folder_name if len(folder_name) <= 40 else folder_name[:39] + "…"
    return (
        f"the folder name {shown!r} is {len(os.fsencode(folder_name))} bytes, more than the limit of "
        f"{name_max}"
    )


def file_path(function: str, path: object, suffix: str) -> Path:
    """``path`` checked to name a file, with ``suffix`` (e.g. ``".svg"``) added when it has none."""
    checked = check_path(function, "path", path)
    if checked.name in ("", ".", ".."):
        fail(ValueError, function, "path", "a file name", f"{short_repr(str(path))}, which names a folder")
    return checked if checked.suffix else checked.with_suffix(suffix)


def remove_stale_temporaries(path: PathLike, *, older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the temporary files that killed saves of ``path`` left beside it; returns the ones removed.

    Only files named as ``atomic_write`` names the temporaries of ``path`` (and
    ``.<name>.<12 hex>.tmp``, the name earlier versions used) are considered, and
    only those that are regular files, untouched for ``older_than`` seconds and
    not locked by a save still writing them. ``atomic_write`` calls this itself.
    """
    target = check_path("remove_stale_temporaries", "path", path)
    older_than = check_real("remove_stale_temporaries", "older_than", older_than, minimum=0.0)
    folder = target.parent
    patterns = _temporary_patterns(target.name)
    now = time.time()
    removed = []
    with os.scandir(folder) as entries:
        names = [entry.name for entry in entries if any(p.fullmatch(entry.name) for p in patterns)]
    for name in names:
        candidate = folder / name
        with contextlib.suppress(OSError):
            if _remove_if_stale(candidate, now - older_than):
                removed.append(candidate)
    return removed


def _follow_symlinks(path: Path, refuse: Callable[[int, str], NoReturn]) -> Path:
    """The file that ``path`` names after following symbolic links in its last component."""
    for _ in range(_MAX_SYMLINKS):
        if not path.is_symlink():
            return path
        path = path.parent / os.readlink(path)  # a relative link is relative to the link's folder
    refuse(errno.ELOOP, "too many levels of symbolic links")


def _check_name_length(path: Path, refuse: Callable[[int, str], NoReturn]) -> int:
    """The folder's name limit, in bytes, after checking that ``path``'s name is within it."""
    name_max = _name_max(path.parent)
    size = len(os.fsencode(path.name))
    if size > name_max:
        refuse(errno.ENAMETOOLONG, _long_name(size, name_max))
    return name_max


def _name_max(folder: Path) -> int:
    """The longest file name, in bytes, that ``folder``'s filesystem takes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # not POSIX, or the filesystem will not say
        return _DEFAULT_NAME_MAX


def _short_stem(name: str) -> str:
    """A fixed-length stand-in for a long file name: the start of its SHA-256, in hex."""
    return ".chainrule-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]


def _temporary_name(name: str, name_max: int) -> str:
    token = secrets.token_hex(_TOKEN_HEX // 2)
    long_form = f".{name}.chainrule-{token}.tmp"
    if len(os.fsencode(long_form)) <= name_max:
        return long_form
    return f"{_short_stem(name)}-{token}.tmp"


def _temporary_patterns(name: str) -> list[re.Pattern[str]]:
    digits = f"[0-9a-f]{{{_TOKEN_HEX}}}"
    return [
        re.compile(re.escape(f".{name}.") + rf"(chainrule-)?{digits}\.tmp"),
        re.compile(re.escape(f"{_short_stem(name)}-") + rf"{digits}\.tmp"),
    ]


def _hold_lock(fd: int) -> int | None:
    """Lock the temporary for as long as it is being written; returns the descriptor that holds the lock.

    The lock lives on a duplicate of ``fd``, so it stays held after the file object
    is closed and until the rename is done. ``None`` where locks are not available.
    """
    if fcntl is None:  # pragma: no cover - Windows
        return None
    lock = os.dup(fd)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a filesystem without flock: the age rule alone protects this file
        os.close(lock)
        return None
    return lock


def _remove_if_stale(candidate: Path, modified_before: float) -> bool:
    """Remove ``candidate`` if it is a regular file, last modified before then, and unlocked."""
    info = os.lstat(candidate)
    if not stat.S_ISREG(info.st_mode) or info.st_mtime >= modified_before:
        return False
    fd = _open_for_lock(candidate)
    if fd is None:
        return False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a live save holds it
            except OSError:
                pass  # no locks on this filesystem: the age rule decides
        opened, named = os.fstat(fd), os.lstat(candidate)
        if (opened.st_dev, opened.st_ino) != (named.st_dev, named.st_ino):
            return False  # replaced while we looked: leave it
        os.unlink(candidate)
        return True
    finally:
        os.close(fd)


def _open_for_lock(candidate: Path) -> int | None:
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    for mode in (os.O_RDONLY, os.O_WRONLY):  # a temporary may already carry a write-only mode
        try:
            return os.open(candidate, mode | nofollow)
        except OSError:
            continue
    return None


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
