"""Model performance report: Plotly figures in one self-contained HTML file + a JSON sibling.

Figures: ROC, KS curves, score distribution of goods vs bads, calibration by PD band, the
decile (gains) table, the PSI table (score and every model feature; against a baseline data
set when one is given, else against the development sample stored in the model) and, for a
scorecard, its points table. plotly.js is inlined once, so the file opens offline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.risk.scoring import metrics as m
from creditpay.risk.scoring.dataset import CreditDataset

__all__ = ["Report", "build_report", "evaluate_model", "write_report"]

_CURVE_POINTS_MAX = 2000  # enough to draw a smooth curve; keeps the HTML small on 1M rows


@dataclass(frozen=True)
class Report:
    title: str
    summary: dict[str, Any]
    tables: dict[str, Any]
    figures: dict[str, Any]  # name → plotly Figure


def evaluate_model(model: Any, data: CreditDataset) -> dict[str, Any]:
    """``{"auc", "gini", "ks", "brier", "rows", "bad_rate"}`` of ``model`` on ``data``."""
    probability = model.predict_pd(data.frame)
    result: dict[str, Any] = dict(m.discrimination(data.bad, probability))
    result["brier"] = m.brier_score(data.bad, probability)
    result["rows"] = data.n_rows
    result["bad_rate"] = data.bad_rate
    return result


def _thin(*arrays: np.ndarray) -> list[np.ndarray]:
    size = arrays[0].size
    if size <= _CURVE_POINTS_MAX:
        return list(arrays)
    keep = np.unique(np.linspace(0, size - 1, _CURVE_POINTS_MAX).astype(np.int64))
    return [a[keep] for a in arrays]


def _table_figure(rows: list[dict[str, Any]], title: str) -> Any:
    import plotly.graph_objects as go

    if not rows:
        return go.Figure(layout={"title": title})
    headers = list(rows[0])
    cells = [[_fmt(r[h]) for r in rows] for h in headers]
    figure = go.Figure(go.Table(header={"values": headers}, cells={"values": cells}))
    figure.update_layout(title=title, height=min(120 + 28 * len(rows), 900))
    return figure


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


def _psi_rows(loaded: Any, data: CreditDataset, baseline_data: CreditDataset | None,
              ) -> tuple[list[dict[str, Any]], str]:
    model = loaded.model
    score = model.score(data.frame)
    rows = []
    if baseline_data is not None:
        source = "baseline data set"
        base_score = model.score(baseline_data.frame)
        results = {"score": m.psi(base_score, score)}
        for spec in model.feature_specs:
            results[spec.name] = m.psi(baseline_data.frame[spec.name].to_numpy(),
                                       data.frame[spec.name].to_numpy(), kind=spec.kind)
    else:
        source = "development sample stored in the model"
        stored = loaded.baseline
        results = {"score": m.psi_against_baseline(stored["score"], score)}
        for spec in model.feature_specs:
            results[spec.name] = m.psi_against_baseline(stored["features"][spec.name],
                                                        data.frame[spec.name].to_numpy())
    for name, result in results.items():
        level = ("stable" if result.psi < 0.1 else "watch" if result.psi < 0.25 else "shifted")
        rows.append({"variable": name, "psi": result.psi, "status": level})
    return rows, source


def build_report(loaded: Any, data: CreditDataset, baseline_data: CreditDataset | None = None,
                 title: str = "Credit model report") -> Report:
    """Compute every table and figure of the report for ``loaded`` on ``data``."""
    import plotly.graph_objects as go

    model = loaded.model
    probability = model.predict_pd(data.frame)
    score = model.score(data.frame)
    summary = {key: loaded.manifest.get(key) for key in ("kind", "model_version", "created_at",
                                                        "author")}
    summary.update(evaluate_model(model, data))
    deciles = m.decile_table(data.bad, probability)
    calibration = m.calibration_table(data.bad, probability)
    psi_rows, psi_source = _psi_rows(loaded, data, baseline_data)
    tables: dict[str, Any] = {"deciles": deciles, "calibration": calibration,
                              "psi": {"source": psi_source, "rows": psi_rows}}
    if model.kind == "scorecard":
        tables["points"] = model.points_table()

    figures: dict[str, Any] = {}
    fpr, tpr, _ = m.roc_curve(data.bad, probability)
    fpr, tpr = _thin(fpr, tpr)
    roc = go.Figure([go.Scatter(x=fpr, y=tpr, mode="lines",
                                name=f"model (AUC {summary['auc']:.3f})"),
                     go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="random",
                                line={"dash": "dash"})])
    roc.update_layout(title="ROC", xaxis_title="false-positive rate (goods declined)",
                      yaxis_title="true-positive rate (bads declined)")
    figures["roc"] = roc

    curve = m.ks_curve(data.bad, probability)
    n_bad = int(data.bad.sum())
    population = (curve["cum_bad_share"] * n_bad
                  + curve["cum_good_share"] * (data.n_rows - n_bad)) / data.n_rows
    population, bad_share, good_share = _thin(population, curve["cum_bad_share"],
                                              curve["cum_good_share"])
    ks = go.Figure([go.Scatter(x=population, y=bad_share, mode="lines", name="bads"),
                    go.Scatter(x=population, y=good_share, mode="lines", name="goods")])
    ks.update_layout(title=f"KS curves (KS {summary['ks']:.3f})",
                     xaxis_title="share of applicants, riskiest first",
                     yaxis_title="cumulative share")
    figures["ks"] = ks

    distribution = go.Figure([
        go.Histogram(x=score[data.bad == 0], name="goods", opacity=0.6,
                     histnorm="probability density", nbinsx=40),
        go.Histogram(x=score[data.bad == 1], name="bads", opacity=0.6,
                     histnorm="probability density", nbinsx=40)])
    distribution.update_layout(title="Score distribution", barmode="overlay",
                               xaxis_title="score (points, higher is safer)",
                               yaxis_title="density")
    figures["score_distribution"] = distribution

    predicted = [r["predicted_pd"] for r in calibration]
    observed = [r["observed_bad_rate"] for r in calibration]
    top = max(max(predicted), max(observed))
    calibration_figure = go.Figure([
        go.Scatter(x=predicted, y=observed, mode="markers+lines", name="PD bands"),
        go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect",
                   line={"dash": "dash"})])
    calibration_figure.update_layout(title="Calibration by PD band",
                                     xaxis_title="mean predicted PD",
                                     yaxis_title="observed bad rate")
    figures["calibration"] = calibration_figure
    figures["decile_table"] = _table_figure(deciles, "Decile (gains) table, riskiest first")
    figures["psi_table"] = _table_figure(psi_rows, f"PSI against the {psi_source}")
    if "points" in tables:
        figures["points_table"] = _table_figure(tables["points"], "Scorecard points")
    return Report(title, summary, tables, figures)


def write_report(report: Report, html_path: str | Path) -> tuple[Path, Path]:
    """Write the HTML report and its JSON sibling (same name, ``.json``); return both paths."""
    import plotly.io as pio

    html_path = Path(html_path)
    json_path = html_path.with_suffix(".json")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px}</style>",
        f"</head><body><h1>{html.escape(report.title)}</h1><table>",
    ]
    for key, value in report.summary.items():
        shown = f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))
        parts.append(f"<tr><th align='left'>{html.escape(key)}</th><td>{shown}</td></tr>")
    parts.append("</table>")
    for index, (name, figure) in enumerate(report.figures.items()):
        # plotly.js inlined once (first figure): self-contained, works offline.
        parts.append(pio.to_html(figure, full_html=False, include_plotlyjs=index == 0,
                                 div_id=f"figure-{name}"))
    parts.append("</body></html>")
    html_path.write_text("\n".join(parts), encoding="utf-8")
    document = {
        "title": report.title,
        "summary": report.summary,
        "tables": report.tables,
        "figures": {name: json.loads(pio.to_json(figure))
                    for name, figure in report.figures.items()},
    }
    json_path.write_text(json.dumps(_jsonable(document), allow_nan=False), encoding="utf-8")
    return html_path, json_path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
