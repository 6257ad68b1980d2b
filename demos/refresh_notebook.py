"""Run demos/backprop_tour.ipynb top to bottom in a fresh kernel and store its outputs in the file.

The notebook is committed with its outputs so that it reads on the web; run this (``make notebook``)
after changing the notebook or anything it prints. It runs in an empty temporary folder and stores
no timings, so a re-run changes the file only where an output changed.

Run: python demos/refresh_notebook.py [path/to/notebook.ipynb]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TOUR = Path(__file__).resolve().parent / "backprop_tour.ipynb"


def execute(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """Drop ``notebook``'s outputs, then run its code cells in order in a new python3 kernel in ``folder``.

    Raises ``nbclient.exceptions.CellExecutionError`` at the first cell that fails.
    """
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()


def main(argv: Sequence[str] | None = None) -> int:
    """Re-run the notebook given (default: the tour) in place; 0 on success."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else TOUR
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        execute(notebook, Path(folder))
    nbformat.write(notebook, path)
    print(f"ran every cell of {path} and stored its outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
