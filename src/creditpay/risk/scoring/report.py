"""Model performance report: Plotly figures in one self-contained HTML file + a JSON sibling.

Figures: ROC, KS curves, score distribution of goods vs bads, calibration by PD band, the
decile (gains) table, the PSI table (score and every model feature; against a baseline data
set when one is given, else against the development sample stored in the model), for a
scorecard its points table and, when each row's date is given, stability over time: per
period (month by default) rows, bads, bad rate, mean predicted PD, AUC, KS and the PSI of the
score against the same reference as the PSI table. plotly.js is inlined once, so the file
opens offline.

Every figure says which sample it comes from (the ``provenance`` table and the ``sample``
of the summary): the evaluation file given to the report (or, when that file is the
training file, "in-sample", flagged), and the development figures recorded at training
(training = in-sample, validation = out-of-time or random holdout, with rows and bads).
Warnings (small sample, in-sample evaluation) are shown first, in red.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.scoring import metrics as m
from creditpay.risk.scoring.dataset import CreditDataset

__all__ = ["PERIODS", "Report", "build_report", "evaluate_model", "period_labels",
           "stability_over_time", "write_report"]

_CURVE_POINTS_MAX = 2000  # enough to draw a smooth curve; keeps the HTML small on 1M rows
PERIODS = ("month", "quarter", "week")
_PERIODS_MAX = 240  # twenty years of months: more is a wrong column, not a history
MISSING_PERIOD = "(no date)"


@dataclass(frozen=True)
class Report:
    title: str
    summary: dict[str, Any]
    tables: dict[str, Any]
    figures: dict[str, Any]  # name → plotly Figure
    notes: tuple[str, ...] = ()  # warnings shown above everything else


def model_pd(model: Any, frame: Any, manifest: Mapping[str, Any] | None = None) -> np.ndarray:
    """The model's PD, shifted as the manifest's ``pd_calibration`` says (PD calibrated to a
    target bad rate at training), else as the model computes it."""
    probability = model.predict_pd(frame)
    calibration = ((manifest or {}).get("metrics") or {}).get("pd_calibration")
    if calibration:
        return m.shift_pd(probability, float(calibration["intercept_shift_log_odds"]))
    return np.asarray(probability, dtype=np.float64)


def evaluate_model(model: Any, data: CreditDataset,
                   manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"auc", "gini", "ks", "brier", "rows", "bad_rate"}`` of ``model`` on ``data``
    (PD calibrated as ``manifest`` records, when given)."""
    probability = model_pd(model, data.frame, manifest)
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


def period_labels(values: Any, period: str = "month", field: str = "time_column"
                  ) -> list[str]:
    """Each date's period label: ``2025-03`` (month), ``2025-Q1`` (quarter) or ``2025-W09``
    (ISO week). Accepts dates, datetimes or ISO text (``2025-03``, ``2025-03-14T09:00Z``);
    missing values get :data:`MISSING_PERIOD`; anything else is a ValidationError naming
    ``field``."""
    import pandas as pd

    if period not in PERIODS:
        raise ValidationError(f"period must be one of {list(PERIODS)}", field="period")
    series = pd.Series(list(values), dtype=object)
    missing = series.isna().to_numpy()
    try:
        parsed = pd.to_datetime(series.where(~missing, None), utc=True, errors="raise",
                                format="mixed")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"not a date: {exc}", field=field) from exc
    labels = []
    for when, gap in zip(parsed, missing, strict=True):
        if gap or pd.isna(when):
            labels.append(MISSING_PERIOD)
        elif period == "month":
            labels.append(f"{when.year:04d}-{when.month:02d}")
        elif period == "quarter":
            labels.append(f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}")
        else:
            year, week, _ = when.isocalendar()
            labels.append(f"{year:04d}-W{week:02d}")
    return labels


def stability_over_time(bad: Any, probability: Any, score: Any, periods: Sequence[str],
                        psi_of: Callable[[np.ndarray], float]) -> list[dict[str, Any]]:
    """One row per period, in time order (undated rows last): ``rows``, ``bads``,
    ``bad_rate``, ``mean_pd``, ``auc`` and ``ks`` (None when the period has only goods or
    only bads), and ``score_psi`` = ``psi_of(scores of the period)``."""
    bad = np.asarray(bad)
    probability = np.asarray(probability, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    labels = np.asarray(periods, dtype=object)
    if not (bad.shape == probability.shape == score.shape == labels.shape):
        raise ValidationError("one period per row is needed", field="periods")
    distinct = sorted(set(labels.tolist()), key=lambda p: (p == MISSING_PERIOD, p))
    if len(distinct) > _PERIODS_MAX:
        raise ValidationError(f"more than {_PERIODS_MAX} periods; use a coarser period",
                              field="period")
    rows = []
    for label in distinct:
        mask = labels == label
        outcome = bad[mask]
        n_bad = int(outcome.sum())
        both = 0 < n_bad < outcome.size
        rows.append({
            "period": label, "rows": int(outcome.size), "bads": n_bad,
            "bad_rate": n_bad / outcome.size, "mean_pd": float(probability[mask].mean()),
            "auc": m.roc_auc(outcome, probability[mask]) if both else None,
            "ks": m.ks_statistic(outcome, probability[mask]) if both else None,
            "score_psi": float(psi_of(score[mask]))})
    return rows


def _stability_figure(rows: list[dict[str, Any]], period: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x = [r["period"] for r in rows]
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=("Discrimination", "Bad rate vs predicted PD",
                                           "Score PSI against development"))
    for name in ("auc", "ks"):
        figure.add_trace(go.Scatter(x=x, y=[r[name] for r in rows], mode="lines+markers",
                                    name=name.upper()), row=1, col=1)
    figure.add_trace(go.Scatter(x=x, y=[r["bad_rate"] for r in rows], mode="lines+markers",
                                name="observed bad rate"), row=2, col=1)
    figure.add_trace(go.Scatter(x=x, y=[r["mean_pd"] for r in rows], mode="lines+markers",
                                name="mean predicted PD", line={"dash": "dot"}), row=2, col=1)
    figure.add_trace(go.Bar(x=x, y=[r["score_psi"] for r in rows], name="score PSI"),
                     row=3, col=1)
    for level, colour in ((0.1, "orange"), (0.25, "red")):  # watch / shifted
        figure.add_hline(y=level, line={"dash": "dash", "color": colour}, row=3, col=1)
    figure.update_layout(title=f"Stability over time (by {period})", height=800)
    return figure


def _provenance(manifest: Mapping[str, Any], sample: str, data: CreditDataset
                ) -> list[dict[str, Any]]:
    """Which sample each group of figures comes from, with its rows and bads."""
    rows = [{"figures": "this report (ROC, KS, deciles, calibration, PSI, stability, "
                        "fairness)", "sample": sample, "rows": data.n_rows,
             "bads": int(data.bad.sum())}]
    metrics = manifest.get("metrics") or {}
    scheme = (metrics.get("validation_scheme") or {}).get("scheme")
    for name in ("validation", "training"):
        figures = metrics.get(name)
        if not isinstance(figures, Mapping):
            continue
        label = figures.get("sample") or (
            "training (in-sample: not a performance measure)" if name == "training"
            else f"validation ({scheme or 'holdout'})")
        auc = figures.get("auc")
        shown = f"at training: {name}" + (f" (AUC {auc:.4f})" if isinstance(auc, float)
                                          else "")
        rows.append({"figures": shown, "sample": label, "rows": figures.get("rows"),
                     "bads": figures.get("bads")})
    return rows


def _fairness(raw: Any, probability: np.ndarray, bad: np.ndarray, approve_share: float
              ) -> dict[str, Any] | None:
    from creditpay.risk.scoring import fairness as f

    if raw is None:
        return None
    age = next((c for c in f.AGE_COLUMNS if c in raw.columns), None)
    sex = f.sex_column([str(c) for c in raw.columns])
    if age is None and sex is None:
        return None
    cutoff = f.approval_cutoff(probability, approve_share)
    approved = probability <= cutoff
    result: dict[str, Any] = {"approve_share": approve_share, "cutoff_pd": cutoff,
                              "method": "own code (creditpay.risk.scoring.fairness)",
                              "four_fifths": f.FOUR_FIFTHS}
    if age is not None:
        result["by_age_band"] = {"column": age, "rows": f.group_rates(
            f.age_bands(raw[age].tolist(), age), approved, bad)}
    if sex is not None:
        result["by_sex"] = {"column": sex, "rows": f.group_rates(
            f.sex_labels(raw[sex].tolist()), approved, bad)}
    return result


def build_report(loaded: Any, data: CreditDataset, baseline_data: CreditDataset | None = None,
                 title: str = "Credit model report", *, periods: Sequence[Any] | None = None,
                 period: str = "month", time_column: str | None = None,
                 sample: str = "evaluation file", raw: Any = None, approve_share: float = 0.8,
                 bootstrap: int = m.BOOTSTRAP_REPLICATES, seed: int = 0) -> Report:
    """Compute every table and figure of the report for ``loaded`` on ``data``.

    ``periods``: one date per row of ``data`` (e.g. the decision time): adds the stability
    over time table and figure, grouped by ``period`` (month, quarter or week);
    ``time_column`` only names the source in the report. ``sample`` names where ``data``
    comes from; ``raw``: the file's rows aligned with ``data`` (for the age and sex columns
    of the fairness table, which are not necessarily model features); ``approve_share``: the
    share the model approves in the fairness table; ``bootstrap`` replicates of the AUC and
    KS intervals (0: none).
    """
    import plotly.graph_objects as go

    model = loaded.model
    probability = model_pd(model, data.frame, loaded.manifest)
    score = model.score(data.frame)
    if periods is not None:
        labels = period_labels(periods, period)
        if len(labels) != data.n_rows:
            raise ValidationError(f"{len(labels)} dates for {data.n_rows} rows",
                                  field="periods")
    summary = {key: loaded.manifest.get(key) for key in ("kind", "model_version", "created_at",
                                                        "author")}
    summary.update(evaluate_model(model, data, loaded.manifest))
    summary["sample"] = sample
    summary["bads"] = int(data.bad.sum())
    metrics = loaded.manifest.get("metrics") or {}
    notes = []
    if metrics.get("small_sample_warning"):
        notes.append("Trained with --allow-small: " + str(metrics["small_sample_warning"]))
    if "in-sample" in sample:
        notes.append("The data of this report is the training file: its figures are "
                     "in-sample and say nothing about performance; see the validation row "
                     "of the provenance table.")
    if metrics.get("pd_calibration"):
        calibrated = metrics["pd_calibration"]
        notes.append(f"PDs are calibrated to a bad rate of {calibrated['target_bad_rate']} "
                     f"(log-odds shift {calibrated['intercept_shift_log_odds']:+.4f}).")
    deciles = m.decile_table(data.bad, probability)
    calibration = m.calibration_table(data.bad, probability)
    psi_rows, psi_source = _psi_rows(loaded, data, baseline_data)
    tables: dict[str, Any] = {"provenance": _provenance(loaded.manifest, sample, data),
                              "deciles": deciles, "calibration": calibration,
                              "psi": {"source": psi_source, "rows": psi_rows}}
    if bootstrap:
        tables["intervals"] = m.bootstrap_intervals(data.bad, probability,
                                                    replicates=bootstrap, seed=seed)
        for name in ("auc", "ks"):
            interval = tables["intervals"][name]
            summary[f"{name}_ci95"] = f"[{interval['low']:.4f}, {interval['high']:.4f}]"
    if metrics.get("validation_scheme"):
        tables["validation_scheme"] = metrics["validation_scheme"]
    fairness = _fairness(raw, probability, data.bad, approve_share)
    if fairness is not None:
        tables["fairness"] = fairness
    if model.kind == "scorecard":
        tables["points"] = model.points_table()
    if periods is not None:
        if baseline_data is not None:
            base_score = model.score(baseline_data.frame)

            def score_psi(values: np.ndarray) -> float:
                return m.psi(base_score, values).psi
        else:
            def score_psi(values: np.ndarray) -> float:
                return m.psi_against_baseline(loaded.baseline["score"], values).psi
        tables["stability"] = {
            "period": period, "time_column": time_column, "psi_source": psi_source,
            "rows": stability_over_time(data.bad, probability, score, labels, score_psi)}

    figures: dict[str, Any] = {
        "provenance_table": _table_figure(tables["provenance"],
                                          "Which sample every figure comes from")}
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
    calibration_figure.update_layout(title=f"Reliability by PD decile (Brier "
                                           f"{summary['brier']:.4f})",
                                     xaxis_title="mean predicted PD",
                                     yaxis_title="observed bad rate")
    figures["calibration"] = calibration_figure
    figures["decile_table"] = _table_figure(deciles, "Decile (gains) table, riskiest first")
    figures["psi_table"] = _table_figure(psi_rows, f"PSI against the {psi_source}")
    if "points" in tables:
        figures["points_table"] = _table_figure(tables["points"], "Scorecard points")
    if "stability" in tables:
        figures["stability"] = _stability_figure(tables["stability"]["rows"], period)
        figures["stability_table"] = _table_figure(tables["stability"]["rows"],
                                                   f"Stability by {period}")
    if fairness is not None:
        for key, label in (("by_age_band", "age band"), ("by_sex", "sex")):
            if key in fairness:
                figures[f"fairness_{key}"] = _table_figure(
                    fairness[key]["rows"], f"Approval and bad rate by {label} "
                    f"({fairness[key]['column']}), approving {approve_share:.0%}; AIR < 0.8 "
                    "flagged")
    return Report(title, summary, tables, figures, tuple(notes))


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
        f"</head><body><h1>{html.escape(report.title)}</h1>",
    ]
    for note in report.notes:
        parts.append(f"<p style='color:#b00;font-weight:bold'>WARNING: {html.escape(note)}</p>")
    parts.append("<table>")
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
        "notes": list(report.notes),
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
