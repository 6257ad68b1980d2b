"""The README's REPL session and the docstring examples run as shown."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_examples_run_as_shown() -> None:
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


@pytest.mark.parametrize("module", ["engine", "engine.value", "engine.backprop"])
def test_docstring_examples_run_as_shown(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def _python_blocks(text: str) -> list[str]:
    blocks, inside, lines = [], False, []
    for line in text.splitlines():
        if line.strip() == "```python":
            inside, lines = True, []
        elif inside and line.strip() == "```":
            inside = False
            code = "\n".join(lines)
            if not code.lstrip().startswith(">>>"):  # REPL blocks are run by the doctest above
                blocks.append(code)
        elif inside:
            lines.append(line)
    return blocks


@pytest.mark.slow
def test_readme_code_blocks_run(tmp_path, monkeypatch, capsys) -> None:
    blocks = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    namespace: dict = {"__name__": "readme"}  # blocks follow on from each other, as in one session
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "model.json").exists() and (tmp_path / "out" / "mlp.svg").exists()
