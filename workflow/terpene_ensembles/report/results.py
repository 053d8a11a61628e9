"""Report section "Results": model against baselines on the test split, per ensemble,
figures, breakdowns, example enzymes and the substrate-level view."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terpene_ensembles.io_utils import sha256_text
from terpene_ensembles.learning.metrics import mean_average_precision, precision_at_1
from terpene_ensembles.report import plots
from terpene_ensembles.report.homology_bands import section_homology_bands
from terpene_ensembles.report.html import (
    COUNT_LABELS,
    HEADLINE_METRICS,
    acceptance_table,
    baseline_members,
    derived_cell,
    esc,
    figure,
    has_path,
    homology_baseline,
    is_scalar_number,
    lookup,
    metric_cell,
    optional_leaves,
    per_class_path,
    table,
)
from terpene_ensembles.report.inputs import ReportInputs, predictor_frame, predictors_in, truth_for

PER_CLASS_FIELDS = {
    "ap": "AP",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "threshold": "threshold",
    "support": "test support",
}
N_EXAMPLE_ENZYMES = 8
N_NEIGHBOURS = 3


def metrics_table(metrics: dict) -> str:
    """Model vs baselines on the test split (every cell from metrics.json)."""
    rows_spec = []
    if has_path(metrics, "test.model"):
        rows_spec.append(("model", "test.model"))
    baselines = metrics.get("test", {}).get("baselines", {})
    ordered = list(baselines)  # the run's order: baseline members, then the references
    components = metrics.get("test", {}).get("components") or {}
    rows_spec.extend(
        (f"{name} (model component)", f"test.components.{name}") for name in components
    )
    rows_spec.extend((name, f"test.baselines.{name}") for name in ordered)
    present = []
    for _, base in rows_spec:
        for key, value in lookup(metrics, base).items():
            if key not in present and (is_scalar_number(value) or value is None):
                present.append(key)
    columns = [k for k in HEADLINE_METRICS if k in present]
    columns += [k for k in present if k not in HEADLINE_METRICS and k not in COUNT_LABELS]
    columns += [k for k in COUNT_LABELS if k in present]
    rows = []
    for name, base in rows_spec:
        css = ' class="ours"' if name == "model" else ""
        cells = "".join(metric_cell(metrics, f"{base}.{key}") for key in columns)
        rows.append(f"<th{css}>{esc(name)}</th>{cells}")
    header = ["predictor"] + [HEADLINE_METRICS.get(k, COUNT_LABELS.get(k, k)) for k in columns]
    return table(header, rows, "metrics-table", "Test split, same run for every predictor")


def per_class_table(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    names = inputs.class_names
    rows = []
    for ensemble_id in inputs.ensemble_ids:
        path = per_class_path(metrics, "test.model", ensemble_id)
        if path is None:
            continue
        cells = "".join(metric_cell(metrics, f"{path}.{key}") for key in PER_CLASS_FIELDS)
        homology = homology_baseline(metrics)
        knn_path = homology and per_class_path(metrics, f"test.baselines.{homology}", ensemble_id)
        knn_cell = (
            metric_cell(metrics, f"{knn_path}.ap")
            if knn_path
            else '<td class="num missing">n/a</td>'
        )
        rows.append(
            f"<td>{esc(names[ensemble_id])} <code>{esc(ensemble_id)}</code></td>{cells}{knn_cell}"
        )
    if not rows:
        return '<p class="note">metrics.json has no per-class results.</p>'
    return table(
        ["ensemble", *PER_CLASS_FIELDS.values(), "kNN AP"],
        rows,
        "per-class-table",
        "Model on the test split; threshold = calibrated per-class decision threshold",
    )


def _map_and_p1(truth: pd.DataFrame, scores: pd.DataFrame) -> tuple[float, float]:
    """metrics.json's definitions (metrics.py) on one group of enzymes."""
    y_true, values = truth.to_numpy(), scores.loc[truth.index, truth.columns].to_numpy()
    return mean_average_precision(y_true, values), precision_at_1(y_true, values)


def breakdown(
    inputs: ReportInputs,
    groups: pd.Series,
    label: str,
    table_id: str,
    figures: dict[str, bytes] | None = None,
) -> str:
    """Test results per kingdom / per MARTS type, recomputed from the calibrated predictions."""
    model = predictor_frame(inputs, "model", "test")
    if model.empty:
        return '<p class="note">No test predictions of the model.</p>'
    homology = homology_baseline(inputs.metrics)
    knn = predictor_frame(inputs, homology, "test") if homology else pd.DataFrame()
    truth = truth_for(inputs, model.index)
    groups = groups[groups.index.isin(model.index)]
    rows, plot_rows = [], {}
    for group in sorted(groups.dropna().unique(), key=str):
        ids = groups.index[groups == group].unique()
        group_truth = truth.loc[ids]
        labelled = int((group_truth.sum(axis=1) > 0).sum())
        values = dict(zip(("model mAP", "model P@1"), _map_and_p1(group_truth, model), strict=True))
        if not knn.empty:
            knn_values = _map_and_p1(group_truth, knn.reindex(ids).fillna(0))
            values.update(zip(("kNN mAP", "kNN P@1"), knn_values, strict=True))
        source = "calibrated_predictions.parquet"
        rows.append(
            f"<td>{esc(group)}</td>{derived_cell(len(ids), source)}"
            f"{derived_cell(labelled, source)}"
            + "".join(derived_cell(v, source) for v in values.values())
        )
        plot_rows[str(group)] = values
    header = [label, "test enzymes", "labelled", *next(iter(plot_rows.values()), {}).keys()]
    plot = plots.grouped_bars(
        pd.DataFrame.from_dict(plot_rows, orient="index"),
        [c for c in ("model mAP", "kNN mAP") if plot_rows and c in next(iter(plot_rows.values()))],
        f"test mAP by {label}",
    )
    return (
        '<div class="cols"><div>'
        + table(header, rows, table_id)
        + "</div><div>"
        + figure(
            plot,
            f"test mAP by {label}",
            f"Mean AP over ensembles with positives, by {label}.",
            f"{label}-breakdown",
            figures,
        )
        + "</div></div>"
    )


def _ensembles_of(row: pd.Series, names: dict[str, str]) -> list[str]:
    return [names[c] for c in names if row.get(c, 0) == 1]


def called_ensembles(inputs: ReportInputs, enzyme_id: str) -> list[str] | None:
    """Calls written by evaluate in test_predictions.tsv (';'-joined ensemble names)."""
    frame = inputs.test_predictions
    column = "called_ensembles"
    if column not in frame.columns or "id" not in frame.columns:
        return None
    match = frame.loc[frame["id"].astype(str) == enzyme_id, column]
    if match.empty:
        return None
    text = match.iloc[0]
    if not isinstance(text, str) or not text:
        return []
    names = inputs.short_names
    return [names.get(token.strip(), token.strip()) for token in text.split(";") if token.strip()]


def example_enzymes(inputs: ReportInputs) -> str:
    model = predictor_frame(inputs, "model", "test")
    if model.empty:
        return ""
    names = inputs.short_names
    truth = truth_for(inputs, model.index)
    labelled = truth.index[truth.sum(axis=1) > 0]
    top = model.loc[labelled].to_numpy().argmax(axis=1)
    top_correct = truth.loc[labelled].to_numpy()[np.arange(len(top)), top] == 1
    # Deterministic, id-order-independent choice: half hits, half misses of the top call.
    order = sorted(range(len(labelled)), key=lambda i: sha256_text(str(labelled[i])))
    hits = [labelled[i] for i in order if top_correct[i]]
    misses = [labelled[i] for i in order if not top_correct[i]]
    n_hits = max(N_EXAMPLE_ENZYMES // 2, N_EXAMPLE_ENZYMES - len(misses))
    chosen = hits[:n_hits] + misses[: N_EXAMPLE_ENZYMES - min(n_hits, len(hits))]
    split = inputs.split.set_index("id")["split"]
    train_ids = set(split.index[split == "train"])
    hits_table = inputs.identity[inputs.identity["query"].isin(chosen)]
    hits_table = hits_table[hits_table["target"].isin(train_ids)]
    enzyme_info = inputs.enzymes.set_index("id")
    all_truth = inputs.labels.set_index("id")[inputs.ensemble_ids]
    rows = []
    for enzyme_id in chosen:
        info = enzyme_info.loc[enzyme_id] if enzyme_id in enzyme_info.index else pd.Series()
        probabilities = model.loc[enzyme_id].sort_values(ascending=False)
        called = called_ensembles(inputs, enzyme_id)
        top_three = ", ".join(
            f"{esc(names[c])} ({derived_cell(float(p), 'calibrated_predictions.parquet', 'span')})"
            for c, p in probabilities.head(3).items()
        )
        called_html = esc(", ".join(called)) if called is not None else "<em>n/a</em>"
        neighbours = hits_table[hits_table["query"] == enzyme_id].sort_values(
            ["identity", "bits", "target"], ascending=[False, False, True]
        )
        neighbour_items = []
        for hit in neighbours.head(N_NEIGHBOURS).itertuples():
            their = (
                _ensembles_of(all_truth.loc[hit.target], names)
                if hit.target in all_truth.index
                else []
            )
            neighbour_items.append(
                f"<li><code>{esc(hit.target)}</code> "
                f"{derived_cell(float(hit.identity), 'pairwise_identity.parquet', 'span')} id. "
                f"&rarr; {esc(', '.join(their) or 'no ensemble')}</li>"
            )
        neighbour_html = (
            f"<ul>{''.join(neighbour_items)}</ul>"
            if neighbour_items
            else "<em>no training hit found by MMseqs2</em>"
        )
        rows.append(
            f"<td><code>{esc(enzyme_id)}</code><br><small>{esc(info.get('enzyme_name', ''))}; "
            f"{esc(info.get('species', ''))} ({esc(info.get('kingdom', ''))})</small></td>"
            f"<td>{esc(', '.join(_ensembles_of(truth.loc[enzyme_id], names)))}</td>"
            f"<td>{called_html}</td><td>{top_three}</td><td>{neighbour_html}</td>"
        )
    return table(
        [
            "test enzyme",
            "true ensembles",
            "called",
            "top-3 probabilities",
            "nearest training enzymes",
        ],
        rows,
        "examples-table",
    )


def section_results(inputs: ReportInputs, figures: dict[str, bytes]) -> str:
    """The Results section; its named figures are added to ``figures``."""
    metrics = inputs.metrics
    model_test = predictor_frame(inputs, "model", "test")
    truth = truth_for(inputs, model_test.index)
    available = predictors_in(inputs)
    pr_scores = {
        p: predictor_frame(inputs, p, "test").reindex(model_test.index)
        for p in ("model", *baseline_members(metrics))
        if p in available
    }
    pr_plot = (
        plots.precision_recall_grid(truth, pr_scores, inputs.short_names)
        if not truth.empty
        else None
    )
    reliability_scores = {
        p: predictor_frame(inputs, p, "test").reindex(model_test.index)
        for p in ("model", homology_baseline(metrics))
        if p in available
    }
    reliability = plots.reliability_diagram(truth, reliability_scores) if not truth.empty else None
    labels = inputs.labels.set_index("id")[inputs.ensemble_ids]
    cooccurrence = plots.cooccurrence_heatmap(labels[labels.sum(axis=1) > 0], inputs.short_names)
    enzymes = inputs.enzymes.set_index("id")
    kingdoms = enzymes["kingdom"].fillna("unknown")
    types = enzymes["types"].explode() if "types" in enzymes else pd.Series(dtype=str)
    substrate_html = substrate_view(metrics)
    drawn = {
        "pr": figure(
            pr_plot,
            "precision-recall curves",
            "One panel per ensemble with test positives; dotted line: prevalence.",
            "pr-curves",
            figures,
        ),
        "reliability": figure(
            reliability,
            "reliability diagram",
            "Calibrated test probabilities pooled over ensembles, 10 equal-width bins; "
            "below: predictions per bin.",
            "reliability",
            figures,
        ),
        "cooccurrence": figure(
            cooccurrence,
            "label co-occurrence",
            "Labelled enzymes carrying both ensembles (diagonal: carrying the ensemble).",
            "cooccurrence",
            figures,
        ),
    }
    return f"""
<section id="results"><h2>Results</h2>
<p>All predictors below were trained and scored in the same run on the same test enzymes.
Macro-F1 and mAP average over ensembles with test positives.</p>
{metrics_table(metrics)}
{acceptance_table(metrics, "acceptance", "acceptance-table")}
<h3>Per ensemble</h3>
{per_class_table(inputs)}
<h3>Precision-recall curves (test)</h3>
{drawn["pr"]}
<h3>Calibration</h3>
{drawn["reliability"]}
<h3>Reliability by homology band</h3>
{section_homology_bands(metrics, figures)}
<h3>Label co-occurrence</h3>
{drawn["cooccurrence"]}
<h3>Breakdown by kingdom and by type</h3>
<p class="note">Recomputed by the report from the calibrated test predictions (same definitions
as metrics.json: AP per ensemble with positives in the group; P@1 over labelled enzymes).
Small groups give noisy numbers.</p>
{breakdown(inputs, kingdoms, "kingdom", "kingdom-breakdown-table", figures)}
{breakdown(inputs, types, "type", "type-breakdown-table", figures)}
<h3>Example test enzymes</h3>
<p>Half whose most likely ensemble is right, half whose is wrong; neighbours are the most
similar training enzymes by MMseqs2 identity.</p>
{example_enzymes(inputs)}
<h3>Substrate-level view</h3>
<p>Chain-length family (from the MARTS <code>Type</code> column, used as a label only), for
comparison with substrate predictors.</p>
{substrate_html}
<h3>Training and calibration</h3>
<div class="cols">
<div>{optional_leaves(metrics, "training")}</div>
<div>{optional_leaves(metrics, "calibration")}</div>
</div>
</section>"""


def substrate_view(metrics: dict) -> str:
    """Substrate-level (chain-length family) results: predictors x mAP, and AP per family."""
    if not isinstance(metrics.get("substrate"), dict):
        return '<p class="note">metrics.json has no substrate-level view.</p>'
    node = metrics["substrate"]
    method = f'<p class="note">{esc(node["method"])}</p>' if node.get("method") else ""
    predictors = [("model", "substrate.test.model")] + [
        (name, f"substrate.test.baselines.{name}") for name in (node["test"].get("baselines") or {})
    ]
    rows = [
        f"<th>{esc(name)}</th>"
        + "".join(metric_cell(metrics, f"{base}.{key}") for key in ("map", "precision_at_1"))
        + metric_cell(metrics, f"{base}.n_enzymes")
        for name, base in predictors
    ]
    summary = table(
        ["predictor", "substrate mAP", "precision@1", "test enzymes"], rows, "substrate-table"
    )
    families = list((node["test"]["model"].get("per_family") or {}).keys())
    family_rows = []
    for family in families:
        cells = "".join(
            metric_cell(metrics, f"{base}.per_family.{family}.ap") for _, base in predictors
        )
        support = metric_cell(metrics, f"substrate.test.model.per_family.{family}.support")
        family_rows.append(f"<td>{esc(family)}</td>{support}{cells}")
    per_family = (
        table(
            ["family", "test support", *(f"AP {name}" for name, _ in predictors)],
            family_rows,
            "substrate-family-table",
        )
        if family_rows
        else ""
    )
    return f'{method}<div class="cols"><div>{summary}</div><div>{per_family}</div></div>'
