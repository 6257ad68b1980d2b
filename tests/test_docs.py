"""Every README code block runs on its own, as shown, writing only into out/; docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block, REPL sessions (>>>) and scripts alike."""
    blocks, start, lines = [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if start is None and line.strip() == "```python":
            start, lines = number + 1, []
        elif start is not None and line.strip() == "```":
            blocks.append((start, "\n".join(lines) + "\n"))
            start = None
        elif start is not None:
            lines.append(line)
    return blocks


BLOCKS = python_blocks(README)
REPL_BLOCKS = [(line, code) for line, code in BLOCKS if code.lstrip().startswith(">>>")]
SCRIPT_BLOCKS = [(line, code) for line, code in BLOCKS if not code.lstrip().startswith(">>>")]


def test_the_readme_has_both_kinds_of_block() -> None:
    assert len(REPL_BLOCKS) >= 2 and len(SCRIPT_BLOCKS) >= 4
    assert sum(code.count(">>>") for _, code in REPL_BLOCKS) > 10


@pytest.fixture
def fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, as a reader who pastes one block into a new session has."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def written_outside_out(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name != "out")


@pytest.mark.parametrize(("line", "code"), REPL_BLOCKS, ids=[f"README.md:{n}" for n, _ in REPL_BLOCKS])
def test_each_repl_session_runs_as_shown_on_its_own(line: int, code: str, fresh_folder: Path) -> None:
    test = doctest.DocTestParser().get_doctest(code, {}, f"README.md:{line}", "README.md", line - 1)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0
    assert written_outside_out(fresh_folder) == []


def _script_cases() -> list:
    """Each script block; one that imports torch is marked ``torch`` (it skips, as they do, without it)."""
    return [
        pytest.param(
            line, code, id=f"README.md:{line}", marks=[pytest.mark.torch] if "import torch" in code else []
        )
        for line, code in SCRIPT_BLOCKS
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("line", "code"), _script_cases())
def test_each_code_block_runs_on_its_own(line: int, code: str, fresh_folder: Path, capsys) -> None:
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "readme"})  # a namespace of its own
    assert written_outside_out(fresh_folder) == []  # files go to out/ only, never into the repository
    for path in re.findall(r"[\"'](out/[^\"']+)[\"']", code):
        assert (fresh_folder / path).is_file(), f"the block says it writes {path}"


@pytest.mark.parametrize("module", ["engine", "engine.value", "engine.backprop", "engine.compiled"])
def test_docstring_examples_run_as_shown(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
