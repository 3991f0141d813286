"""Notebooks: the example runs in a real Jupyter kernel (nbclient + ipykernel) and shows tables,
charts, DataFrames and figures; the stats and cost views render from plain data."""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

import llmprod
from llmprod.cost import _report_view
from llmprod.telemetry import _stats_view

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"
HAS = {name: importlib.util.find_spec(name) is not None for name in ("pandas", "matplotlib", "tqdm")}


def _run_notebook() -> list[dict[str, Any]]:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    client.execute()
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def test_example_notebook_runs_in_a_kernel_and_renders_tables_and_charts() -> None:
    outputs = _run_notebook()
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("ChatResponse" in h for h in html)  # the response's HTML repr
    stats = next(h for h in html if "llmprod stats" in h)
    assert "<table>" in stats and stats.count("<svg") == 2  # latency distribution, p50 by model
    assert "latency distribution" in stats and "p50 latency by model" in stats
    costs = next(h for h in html if "llmprod costs" in h)
    assert "cost over time" in costs and "cost by model" in costs and "<polyline" in costs
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "answers," in printed
    if HAS["pandas"]:
        assert any("dataframe" in h and "p99" in h for h in html)  # pandas' own HTML table
    else:
        assert "pip install 'llmprod[notebook]'" in printed
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == (1 if HAS["matplotlib"] else 0)  # costs().plot(), shown once
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert bool(widgets) == (HAS["tqdm"] and importlib.util.find_spec("ipywidgets") is not None)


# ---------------------------------------------------------------- the views, from plain data


def _client_with_two_models() -> llmprod.Client:
    client = llmprod.Client(
        [llmprod.Simulated("sim-a", failure_rate=0.5, seed=3), llmprod.Simulated("sim-b", seed=4)],
        retry=llmprod.Retry(attempts=1),
    )
    for i in range(24):
        client.chat(f"question {i}", max_tokens=10)
    return client


def test_stats_and_costs_hand_plain_data_to_their_views() -> None:
    with _client_with_two_models() as client:
        stats, costs = client.stats(), client.costs()
    view = stats.view()
    assert {r["name"] for r in view["rows"] if r["group"] == "model"} == {"sim-a", "sim-b"}
    assert sum(len(v) for v in view["latencies"].values()) == 24  # every successful call's latency
    assert _stats_view.text(view) == repr(stats) and "latency distribution" in repr(stats)
    cost_view = costs.view()
    assert len(cost_view["timeline"]) == 24
    assert sum(c for _, _, c in cost_view["timeline"]) == pytest.approx(costs.total.cost)
    series = _report_view.cumulative(cost_view["timeline"])
    assert {m: points[-1][1] for m, points in series.items()} == pytest.approx(
        {m: t.cost for m, t in costs.by("model").items()}
    )
    assert "cost over time" in costs._repr_html_()


def test_views_import_no_data_class() -> None:
    """The circle between the data and its view is gone: a view imports no llmprod data module."""
    for module in (_stats_view, _report_view):
        tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[arg-type]
        imported = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0
        ] + [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [m for m in imported if m.endswith(("_stats", "_report", "_ledger", "models"))], imported


@pytest.mark.skipif(not HAS["pandas"], reason="pandas is in the notebook extra")
def test_to_pandas() -> None:
    with _client_with_two_models() as client:
        stats, costs = client.stats(), client.costs()
    frame = stats.to_pandas()
    assert list(frame["group"]) == ["all", "model", "model", "deployment", "deployment"]
    assert frame.loc[frame["name"] == "all", "requests"].item() == 24
    assert len(stats.latencies_to_pandas()) == 24
    cost_frame = costs.to_pandas()
    assert cost_frame[cost_frame["group"] == "model"]["cost"].sum() == pytest.approx(costs.total.cost)
    timeline = costs.timeline_to_pandas()
    assert str(timeline["time"].dtype).startswith("datetime64") and len(timeline) == 24


@pytest.mark.skipif(not HAS["matplotlib"], reason="matplotlib is in the notebook extra")
def test_plots_are_matplotlib_figures(tmp_path: Path) -> None:
    with _client_with_two_models() as client:
        stats, costs = client.stats(), client.costs()
    for figure, titles in (
        (stats.plot(), ["latency distribution", "requests by model"]),
        (costs.plot(), ["cost over time", "cost by model"]),
    ):
        assert [ax.get_title() for ax in figure.axes] == titles
        figure.savefig(tmp_path / "figure.png")
        assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"


def test_without_pandas_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with _client_with_two_models() as client:
        stats = client.stats()
    with pytest.raises(llmprod.errors.MissingDependencyError, match=r"llmprod\[notebook\]"):
        stats.to_pandas()
