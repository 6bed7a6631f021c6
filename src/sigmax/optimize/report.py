"""A study's report: one self-contained HTML page, templated like the backtest report.

The page holds the best parameters and their out-of-sample result against the configuration
before, every fold's in-sample and out-of-sample figures (a chart and a table), the walk-forward
figure of parameters chosen in sample only, the probability of backtest overfitting, the
parameter importances and every trial's objective. plotly.js is inline (no network); every text
is escaped by the template; the same study gives the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sigmax.backtest.report import html_template, plotly_js
from sigmax.errors import InputError

_TEMPLATE = "study.html.j2"


def _script_json(value: object) -> str:
    """JSON to embed in a <script> element: '</' written so that it cannot close it."""
    return json.dumps(value, allow_nan=False).replace("</", "<\\/")


def _folds_chart(result: Mapping[str, Any]) -> str:
    labels = [f"fold {f['fold']}" for f in result["folds"]]
    traces = [
        ("best: in-sample", "in_sample", "#90caf9"),
        ("best: out-of-sample", "out_of_sample", "#1565c0"),
        ("before: in-sample", "baseline_in_sample", "#ffcc80"),
        ("before: out-of-sample", "baseline_out_of_sample", "#ef6c00"),
    ]
    figure = {
        "data": [
            {"type": "bar", "name": name, "x": labels, "y": [f[key] for f in result["folds"]],
             "marker": {"color": color}}
            for name, key, color in traces
        ],
        "layout": {
            "barmode": "group",
            "height": 360,
            "margin": {"t": 20, "r": 10, "b": 40, "l": 60},
            "yaxis": {"title": {"text": str(result["objective"])}},
        },
    }  # fmt: skip
    return _script_json(figure)


def _trials_chart(result: Mapping[str, Any]) -> str:
    rows = [r for r in result.get("trial_values", []) if r["value"] is not None]
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": state,
                "x": [r["number"] for r in rows if r["state"] == state],
                "y": [r["value"] for r in rows if r["state"] == state],
            }
            for state in ("complete", "pruned")
        ],
        "layout": {
            "height": 320,
            "margin": {"t": 20, "r": 10, "b": 40, "l": 60},
            "xaxis": {"title": {"text": "trial"}},
            "yaxis": {"title": {"text": f"out-of-sample {result['objective']}"}},
        },
    }
    return _script_json(figure)


def render_study_report(result: Mapping[str, Any]) -> str:
    return html_template("sigmax.optimize", _TEMPLATE).render(
        title=f"SIGMAX study {result['study']} ({result['strategy']}, {result['objective']})",
        result=result,
        folds_chart=_folds_chart(result),
        trials_chart=_trials_chart(result),
        plotly_js=plotly_js(),
        config_json=json.dumps(
            {k: result[k] for k in ("space", "seed", "storage", "data", "config_digest")},
            indent=2,
            default=str,
        ),
    )


def write_study_report(result: Mapping[str, Any], path: Path) -> Path:
    """Write the page atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"--report: the folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"--report: {path} is a folder; give a file name")
    page = render_study_report(result)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(page)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
