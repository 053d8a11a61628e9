"""Report section "Data": counts of the parsed export and the functional ensembles."""

from __future__ import annotations

import pandas as pd

from terpene_ensembles.report import plots
from terpene_ensembles.report.html import (
    derived_cell,
    esc,
    has_path,
    is_scalar_number,
    lookup,
    metric_cell,
    per_class_path,
    table,
)
from terpene_ensembles.report.inputs import ReportInputs


def _counts_table(series: pd.Series, header: str, source: str, table_id: str) -> str:
    counts = series.value_counts(dropna=False)
    # Stable order: largest first, ties by name.
    order = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    rows = [f"<td>{esc(name)}</td>{derived_cell(int(count), source)}" for name, count in order]
    return table([header, "enzymes"], rows, table_id)


def _summary_cell(inputs: ReportInputs, key: str) -> str:
    """A parse-summary number: from metrics.json (``data``, evaluate's copy of
    parse/summary.json) when it carries it, else from summary.json itself."""
    path = f"data.{key}"
    if has_path(inputs.metrics, path):
        return metric_cell(inputs.metrics, path)
    if key in inputs.parse_summary and is_scalar_number(inputs.parse_summary[key]):
        return derived_cell(inputs.parse_summary[key], f"parse/summary.json:{key}")
    return '<td class="num missing">n/a</td>'


def section_data(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    counts_rows = []
    for key, label in (
        ("rows_in", "rows in the export"),
        ("rows_used", "rows used"),
        ("rows_rejected", "rows rejected"),
        ("enzymes", "distinct enzymes (sequences)"),
        ("label_coverage", "label coverage"),
    ):
        cell = _summary_cell(inputs, key)
        counts_rows.append(f"<th>{esc(label)}</th>{cell}")
    counts_rows.append(
        f"<th>enzymes evaluated (metrics.json)</th>{metric_cell(metrics, 'n_enzymes')}"
    )
    counts_rows.append(f"<th>ensembles (classes)</th>{metric_cell(metrics, 'n_classes')}")
    rejected_path = (
        "data.rejected_by_reason" if has_path(metrics, "data.rejected_by_reason") else None
    )
    rejected = (
        lookup(metrics, rejected_path)
        if rejected_path
        else inputs.parse_summary.get("rejected_by_reason")
    ) or {}
    rejected_rows = []
    for reason, count in sorted(rejected.items(), key=lambda item: (-item[1], item[0])):
        if rejected_path and "." not in reason:
            cell = metric_cell(metrics, f"{rejected_path}.{reason}")
        else:
            cell = derived_cell(count, "parse/summary.json:rejected_by_reason")
        rejected_rows.append(f"<td>{esc(reason)}</td>{cell}")
    rejected_html = (
        table(["rejection reason", "rows"], rejected_rows, "rejected-table")
        if rejected_rows
        else '<p class="note">No rows were rejected.</p>'
    )
    enzymes = inputs.enzymes
    types = enzymes["types"].explode().dropna() if "types" in enzymes else pd.Series(dtype=str)
    ensemble_rows = []
    per_class_base = "test.model"
    for row in inputs.ensembles.itertuples(index=False):
        drawing = None
        if getattr(row, "kind", "skeleton") == "skeleton":
            drawing = plots.skeleton_svg_uri(str(row.definition))
        drawing_html = (
            f'<img class="skeleton" src="{drawing}" alt="skeleton of {esc(row.name)}">'
            if drawing
            else f'<span class="rule">{esc(row.definition)}</span>'
        )
        examples = "; ".join(str(row.example_products).split(";")[:4])
        test_support_path = per_class_path(metrics, per_class_base, row.ensemble_id)
        test_support = (
            metric_cell(metrics, f"{test_support_path}.support")
            if test_support_path
            else '<td class="num missing">n/a</td>'
        )
        ensemble_rows.append(
            f"<td><code>{esc(row.ensemble_id)}</code></td><td>{esc(row.name)}</td>"
            f"<td>{drawing_html}</td><td>{esc(getattr(row, 'carbon_count', ''))}</td>"
            f"<td class='examples'>{esc(examples)}</td>"
            f"{derived_cell(int(row.support), 'parse/ensembles.tsv')}{test_support}"
        )
    source = "parse/enzymes.parquet"
    kingdom_html = _counts_table(
        enzymes["kingdom"].fillna("unknown"), "kingdom", source, "kingdom-table"
    )
    type_html = _counts_table(types, "MARTS type", source, "type-table")
    status_html = _counts_table(
        enzymes["label_status"], "label status", source, "label-status-table"
    )
    ensemble_html = table(
        ["id", "name", "skeleton", "C", "example products", "support", "test support"],
        ensemble_rows,
        "ensemble-table",
    )
    return f"""
<section id="data"><h2>Data</h2>
<div class="cols">
<div>{table(["", ""], counts_rows, "data-counts-table")}</div>
<div>{rejected_html}</div>
</div>
<h3>Enzymes by kingdom, substrate type and label status</h3>
<div class="cols">
<div>{kingdom_html}</div>
<div>{type_html}</div>
<div>{status_html}</div>
</div>
<p class="note">Type is used only for the substrate-level view, never as a feature.
Label coverage: enzymes with at least one ensemble among all enzymes ("labelled" above).</p>
<h3>Functional ensembles</h3>
<p>Each ensemble groups products sharing a carbon skeleton (drawn by RDKit); "other"
buckets collect rarer skeletons by carbon count. Support counts enzymes over the whole data
set; test support is the number of test enzymes carrying the ensemble.</p>
{ensemble_html}
</section>"""
