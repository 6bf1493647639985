"""examples/tutorial.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel),
in its quick mode; any cell error fails the test."""

import os
from pathlib import Path

from conftest import need, need_module

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "tutorial.ipynb"


def test_tutorial_notebook_runs_in_a_kernel(tmp_path):
    need(bool(os.environ.get("MNISTLAB_DATA")), "MNISTLAB_DATA (real MNIST)")
    nbformat = need_module("nbformat")
    nbclient = need_module("nbclient")
    need_module("ipykernel")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells), "outputs must be stripped"
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell
    text = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "Test accuracy" in text and "ensemble: loss" in text
    # verbose=1 redraws its line in place rather than printing a line per batch.
    assert "\r" in text
    images = [
        out
        for cell in notebook.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= 3
