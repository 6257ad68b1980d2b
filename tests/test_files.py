"""engine.atomic_write: killed saves, stale temporaries, long names, symbolic links.

A save killed with SIGKILL cannot clean up after itself; the next save of the same
file does, removing only temporaries that no live writer holds and that are older
than ``STALE_AFTER_SECONDS``.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine import atomic_write
from engine.files import STALE_AFTER_SECONDS, remove_stale_temporaries

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals, locks and symlinks")

# A writer that writes part of the file, says so, and waits to be killed (or to be let go).
WRITER = textwrap.dedent(
    """
    import sys, time
    from engine.files import atomic_write

    def write(file):
        file.write("partial ")
        file.flush()
        print("writing", flush=True)
        sys.stdin.readline()  # until the test closes stdin (or kills us)
        file.write("whole")

    atomic_write(sys.argv[1], write)
    """
)


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda file: file.write(text))


def temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def age(path: Path, seconds: float = STALE_AFTER_SECONDS + 60) -> None:
    """Make ``path`` look untouched for ``seconds``."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def start_writer(target: Path) -> subprocess.Popen:
    """A process in the middle of ``atomic_write(target, ...)``: its temporary exists and is locked."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = writer.stdout.readline()  # type: ignore[union-attr]
    if line != "writing\n":
        writer.kill()
        raise AssertionError(f"the writer did not start: {line!r} {writer.stderr.read()}")  # type: ignore[union-attr]
    return writer


# --- killed saves -------------------------------------------------------------------------------
def test_a_save_killed_mid_write_leaves_the_old_file_and_the_next_save_removes_its_temporary(tmp_path):
    target = write_text(tmp_path / "model.json", "old")
    writer = start_writer(target)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert target.read_text() == "old"
    [left] = temporaries(tmp_path)  # the kill left its temporary, recognisably named
    assert left.startswith(".model.json.chainrule-")
    assert (tmp_path / left).read_text() == "partial "

    write_text(target, "new")  # too fresh to be sure it is abandoned: kept
    assert temporaries(tmp_path) == [left]
    age(tmp_path / left)
    write_text(target, "newer")  # now stale: removed
    assert temporaries(tmp_path) == [] and target.read_text() == "newer"


def test_a_live_writers_temporary_is_never_removed_however_old(tmp_path):
    target = write_text(tmp_path / "model.json", "old")
    writer = start_writer(target)
    try:
        [live] = temporaries(tmp_path)
        age(tmp_path / live)  # old, but locked by a process that is still writing
        write_text(target, "mine")
        assert remove_stale_temporaries(target) == []
        assert temporaries(tmp_path) == [live]
        writer.stdin.close()  # type: ignore[union-attr]  # let it finish: its rename must still work
        assert writer.wait(timeout=30) == 0, writer.stderr.read()  # type: ignore[union-attr]
    finally:
        writer.kill()
    assert target.read_text() == "partial whole" and temporaries(tmp_path) == []


def test_only_stale_temporaries_of_the_same_file_are_removed(tmp_path):
    target = write_text(tmp_path / "model.json", "old")
    stale = [".model.json.chainrule-0123456789ab.tmp", ".model.json.0123456789ab.tmp"]  # now and before
    kept = [
        ".model.json.chainrule-fedcba987654.tmp",  # fresh: may belong to a writer that has not locked yet
        ".other.json.chainrule-0123456789ab.tmp",  # another file's
        ".model.json.chainrule-0123456789.tmp",  # not the pattern (10 hex digits)
        ".model.json.CHAINRULE-0123456789ab.tmp",
        ".model.json.bak",
        "model.json.0123456789ab.tmp",  # no leading dot
        ".model.json.x.chainrule-0123456789ab.tmp",  # the temporary of a file named "model.json.x"
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    for name in stale + kept[1:]:
        age(tmp_path / name)
    folder_like = tmp_path / ".model.json.chainrule-aaaaaaaaaaaa.tmp"
    folder_like.mkdir()
    link_like = tmp_path / ".model.json.chainrule-bbbbbbbbbbbb.tmp"
    link_like.symlink_to(tmp_path / "model.json")
    age(folder_like)
    age(link_like)

    write_text(target, "new")
    remaining = set(os.listdir(tmp_path))
    assert not remaining & set(stale)
    assert set(kept) | {folder_like.name, link_like.name, "model.json"} == remaining
    assert target.read_text() == "new"


def test_removing_stale_temporaries_by_hand_reports_what_it_removed(tmp_path):
    target = tmp_path / "plot.svg"
    stale = tmp_path / ".plot.svg.chainrule-0123456789ab.tmp"
    stale.write_text("x")
    assert remove_stale_temporaries(target) == []  # fresh
    assert remove_stale_temporaries(target, older_than=0.0) == [stale]
    assert not stale.exists()


# --- long names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["m" * 250 + ".json", "é" * 125 + ".json", "x" * 255], ids=len)
def test_a_name_at_the_filesystems_limit_still_saves(tmp_path, name):
    assert len(os.fsencode(name)) <= 255
    target = write_text(tmp_path / name, "old")
    write_text(target, "new")
    assert target.read_text() == "new" and temporaries(tmp_path) == []


def test_a_killed_save_of_a_long_name_is_cleaned_up_too(tmp_path):
    target = write_text(tmp_path / ("m" * 250 + ".json"), "old")
    writer = start_writer(target)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    [left] = temporaries(tmp_path)
    assert left.startswith(".chainrule-") and len(left) < 60  # the short form, named after a hash
    age(tmp_path / left)
    write_text(target, "new")
    assert temporaries(tmp_path) == [] and target.read_text() == "new"


def test_a_name_past_the_limit_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(OSError, match=r"^\[Errno \d+\] atomic_write: cannot write .*: its name is 256 bytes, "
                       r"more than this folder's limit of 255") as caught:
        write_text(tmp_path / ("n" * 256), "x")
    assert caught.value.errno == errno.ENAMETOOLONG
    assert os.listdir(tmp_path) == []


# --- symbolic links -------------------------------------------------------------------------------
def test_saving_through_a_link_replaces_the_file_it_points_to_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    real = write_text(tmp_path / "real" / "model.json", "old")
    os.chmod(real, 0o640)
    link = tmp_path / "model.json"
    link.symlink_to(Path("real") / "model.json")  # relative, as `ln -s` makes
    assert write_text(link, "new") == link
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "model.json")
    assert real.read_text() == "new" and (real.stat().st_mode & 0o777) == 0o640
    assert temporaries(tmp_path) == [] and temporaries(tmp_path / "real") == []


def test_a_chain_of_links_is_followed_to_the_file(tmp_path):
    real = write_text(tmp_path / "real.json", "old")
    (tmp_path / "middle.json").symlink_to("real.json")
    (tmp_path / "first.json").symlink_to(tmp_path / "middle.json")
    write_text(tmp_path / "first.json", "new")
    assert real.read_text() == "new"
    assert (tmp_path / "first.json").is_symlink() and (tmp_path / "middle.json").is_symlink()


def test_a_link_to_a_missing_file_creates_that_file(tmp_path):
    link = tmp_path / "model.json"
    link.symlink_to("target.json")
    write_text(link, "new")
    assert link.is_symlink() and (tmp_path / "target.json").read_text() == "new"


def test_a_loop_of_links_or_a_link_to_a_folder_is_refused(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError, match="too many levels of symbolic links") as caught:
        write_text(tmp_path / "a", "x")
    assert caught.value.errno == errno.ELOOP
    (tmp_path / "folder").mkdir()
    (tmp_path / "to_folder").symlink_to("folder")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write_text(tmp_path / "to_folder", "x")
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "folder", "to_folder"]


def test_a_hard_linked_file_is_replaced_by_a_new_one(tmp_path):
    original = write_text(tmp_path / "model.json", "old")
    os.link(original, tmp_path / "backup.json")
    write_text(original, "new")
    assert original.read_text() == "new" and (tmp_path / "backup.json").read_text() == "old"


# --- arguments ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "write", "options", "error", "message"),
    [
        (None, str, {}, TypeError,
         r"^atomic_write: path must be a file name \(str or pathlib\.Path\), got None"),
        (b"x", str, {}, TypeError, r"^atomic_write: path must be a file name .*, got b'x' \(bytes\)"),
        ("", str, {}, ValueError, r"^atomic_write: path must be a file name .*, got ''"),
        ("x", "text", {}, TypeError, r"^atomic_write: write must be a function of the open file, got 'text'"),
        ("x", str, {"binary": "yes"}, TypeError, r"^atomic_write: binary must be True or False, got 'yes'"),
        ("missing/x", str, {}, FileNotFoundError,
         r"atomic_write: cannot write .*: folder .*missing.* does not"),
        (".", str, {}, IsADirectoryError, r"atomic_write: cannot write '.*': it is a folder"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, monkeypatch, path, write, options,
                                                               error, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        atomic_write(path, write, **options)
    assert os.listdir(tmp_path) == []


# --- the system's refusals, each naming the function and the path --------------------------------
def _savers():
    """(function name, save(path)) for every function that writes a file through atomic_write."""
    import engine
    import nn

    y = engine.Value(1.0, label="x") * 2
    return [
        ("atomic_write", lambda path: write_text(path, "x")),
        ("save_model", lambda path: nn.save_model(nn.MLP(2, [1]), path)),
        ("save_svg", lambda path: engine.save_svg(y, path)),
        ("save_html", lambda path: engine.save_html(y, path)),
        ("Stepper.save", lambda path: engine.stepper(y).save(path)),
    ]


SAVERS = _savers()
SAVER_IDS = ["atomic_write", "save_model", "save_svg", "save_html", "Stepper.save"]


def _named(function: str, name: str) -> str:
    """``name`` with the suffix ``function`` writes."""
    suffix = {"save_svg": ".svg", "save_html": ".html", "Stepper.save": ".html"}.get(function, ".txt")
    return name.removesuffix(".txt") + suffix


@pytest.mark.parametrize(("function", "save"), SAVERS, ids=SAVER_IDS)
def test_a_file_where_a_folder_should_be_is_named(tmp_path, monkeypatch, function, save):
    # save_svg(y, "file.txt/g.svg") gave "FileExistsError: [Errno 17] File exists: '.../file.txt'"
    monkeypatch.chdir(tmp_path)
    Path("file.txt").write_text("mine")
    for path in ("file.txt/g.txt", "file.txt/sub/g.txt"):
        path = _named(function, path)
        with pytest.raises(NotADirectoryError) as caught:
            save(path)
        assert str(caught.value) == (
            f"[Errno {errno.ENOTDIR}] {function}: cannot write '{path}': 'file.txt' is a file, not a folder"
        )
    assert os.listdir() == ["file.txt"] and Path("file.txt").read_text() == "mine"


@pytest.mark.parametrize(("function", "save"), SAVERS, ids=SAVER_IDS)
def test_a_folder_where_the_file_should_be_and_names_too_long_are_named(tmp_path, monkeypatch, function,
                                                                       save):
    monkeypatch.chdir(tmp_path)
    folder = _named(function, "taken.txt")
    Path(folder).mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        save(folder)
    assert str(caught.value) == f"[Errno {errno.EISDIR}] {function}: cannot write '{folder}': it is a folder"
    long_folder = "d" * 300
    path = _named(function, f"{long_folder}/g.txt")
    with pytest.raises(OSError) as caught:
        save(path)
    assert caught.value.errno == errno.ENAMETOOLONG
    assert str(caught.value) == (
        f"[Errno {errno.ENAMETOOLONG}] {function}: cannot write '{path}': the folder name "
        f"'{'d' * 39}…' is 300 bytes, more than the limit of 255"
    )
    path = _named(function, "m" * 296 + ".txt")
    with pytest.raises(OSError) as caught:
        save(path)
    assert str(caught.value) == (
        f"[Errno {errno.ENAMETOOLONG}] {function}: cannot write '{path}': its name is {len(path)} bytes, "
        "more than this folder's limit of 255"
    )
    assert os.listdir() == [folder]


@pytest.mark.parametrize(("function", "save"), SAVERS, ids=SAVER_IDS)
def test_no_permission_or_a_full_disk_is_named(tmp_path, monkeypatch, function, save):
    # as root, a folder without write permission would still be written: the system's refusals are faked
    monkeypatch.chdir(tmp_path)
    path = _named(function, "out.txt")
    real_open = os.open

    def no_permission(name, *arguments, **options):
        if str(name).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, *arguments, **options)

    monkeypatch.setattr(os, "open", no_permission)
    with pytest.raises(PermissionError) as caught:
        save(path)
    assert str(caught.value) == (
        f"[Errno {errno.EACCES}] {function}: cannot write '{path}': could not create a file in folder '.': "
        "Permission denied"
    )
    monkeypatch.setattr(os, "open", real_open)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        save(path)
    assert str(caught.value) == (
        f"[Errno {errno.ENOSPC}] {function}: cannot write '{path}': No space left on device (writing it)"
    )
    assert os.listdir() == []  # the temporary is gone


@pytest.mark.parametrize(("function", "save"), SAVERS[2:], ids=SAVER_IDS[2:])
def test_a_folder_that_cannot_be_made_is_named(tmp_path, monkeypatch, function, save):
    monkeypatch.chdir(tmp_path)
    path = _named(function, "new/out.txt")

    def no_permission(self, *arguments, **options):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", no_permission)
    with pytest.raises(PermissionError) as caught:
        save(path)
    assert str(caught.value) == (
        f"[Errno {errno.EACCES}] {function}: cannot write '{path}': could not make folder 'new': "
        "Permission denied"
    )
