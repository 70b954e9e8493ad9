"""The examples cannot rot: the notebook (examples/notebook.ipynb: a tiny sweep through the
Python API, its findings, a table and a plot) runs on a real Jupyter kernel. Examples (a) and
(b) run through the CLI in tests/test_plugins.py."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_notebook_runs_on_a_real_kernel() -> None:
    import nbclient  # the test extra's (pyproject.toml)
    import nbformat

    nb = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    # "python3": ipykernel's own kernel spec (installed with it; jupyter_client runs it with
    # this interpreter), so a fresh CI needs no `ipykernel install`.
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(EXAMPLES)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "digits" in html and "hidden" in html  # the findings and the effects table
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plot, inline
