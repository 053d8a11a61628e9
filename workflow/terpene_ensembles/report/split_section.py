"""Report section "Split": the homology-aware split and its CV folds."""

from __future__ import annotations

from terpene_ensembles.report.html import (
    derived_cell,
    esc,
    has_path,
    metric_cell,
    metric_or_derived,
    table,
)
from terpene_ensembles.report.inputs import ReportInputs

SPLITS = ("train", "val", "test")


def mmseqs_label(record: dict) -> str:
    """The MMseqs2 that ran (split summary's ``mmseqs2``): release or version, source, path."""
    release = record.get("release") or record.get("version")
    return f"{release} ({record.get('source')}: {record.get('path')})"


def section_split(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    split = inputs.split.set_index("id")
    labels = inputs.labels.set_index("id")[inputs.ensemble_ids]
    # metrics.json carries split/summary.json under "split" (evaluate copies it).
    summary_path = "split" if isinstance(metrics.get("split"), dict) else None
    settings = inputs.config.get("split", {})
    settings_rows = []
    for key in ("min_seq_id", "coverage", "val_fraction", "test_fraction", "cv_folds", "seed"):
        path = f"split.settings.{key}"
        if summary_path and has_path(metrics, path):
            settings_rows.append(f"<th>{esc(key)}</th>{metric_cell(metrics, path)}")
        elif key in settings:
            settings_rows.append(f"<th>{esc(key)}</th><td>{esc(settings[key])}</td>")
    for path, label in (
        ("split.clustering.n_clusters", "clusters"),
        ("split.clustering.singletons", "singleton clusters"),
    ):
        if has_path(metrics, path):
            settings_rows.append(f"<th>{label}</th>{metric_cell(metrics, path)}")
    mmseqs = (metrics.get("split") or {}).get("mmseqs2") or inputs.split_summary.get("mmseqs2")
    if mmseqs:
        settings_rows.append(f"<th>MMseqs2</th><td>{esc(mmseqs_label(mmseqs))}</td>")
    source = "split/split.tsv"
    size_rows = []
    for name in SPLITS:
        members = split[split["split"] == name]
        member_labels = labels.reindex(members.index).fillna(0)
        size_rows.append(
            f"<td>{name}</td>"
            + metric_or_derived(metrics, f"split.split.enzymes.{name}", len(members), source)
            + metric_or_derived(
                metrics, f"split.split.clusters.{name}", members["cluster"].nunique(), source
            )
            + derived_cell(int((member_labels.sum(axis=1) > 0).sum()), source)
        )
    label_rows = []
    names = inputs.short_names
    for ensemble_id in inputs.ensemble_ids:
        cells = "".join(
            metric_or_derived(
                metrics,
                f"split.split.label_counts.{name}.{ensemble_id}",
                int(
                    labels.reindex(split.index[split["split"] == name])[ensemble_id].fillna(0).sum()
                ),
                source,
            )
            for name in SPLITS
        )
        label_rows.append(f"<td>{esc(names[ensemble_id])}</td>{cells}")
    missing = (((metrics.get("split") or {}).get("split") or {}).get("missing_positives")) or {}
    missing_items = [
        f"<li>{esc(name)}: {esc(', '.join(str(m.get('label')) for m in entries))}</li>"
        for name, entries in missing.items()
        if entries
    ]
    missing_html = (
        "<p>Labels without positives in a split (too few clusters carry them):</p>"
        f"<ul>{''.join(missing_items)}</ul>"
        if missing_items
        else ""
    )
    fold_html = ""
    folds = ((metrics.get("split") or {}).get("cv") or {}).get("enzymes") or {}
    if folds:
        fold_rows = [
            f"<td>{esc(fold)}</td>"
            + metric_cell(metrics, f"split.cv.enzymes.{fold}")
            + metric_cell(metrics, f"split.cv.clusters.{fold}")
            for fold in folds
            if "." not in str(fold)
        ]
        fold_html = table(["CV fold", "enzymes", "clusters"], fold_rows, "cv-folds-table")
    return f"""
<section id="split"><h2>Split</h2>
<p>Enzymes are clustered with MMseqs2; whole clusters go to the test split or to the
development enzymes, so no test enzyme has a cluster mate in training. Every choice
(hyper-parameters, the stacked combination, calibration, thresholds) is made on out-of-fold
scores of the development enzymes, cross-fitted over the grouped CV folds restricted to
them.</p>
<div class="cols">
<div>{table(["setting", "value"], settings_rows, "split-settings-table")}</div>
<div>{table(["split", "enzymes", "clusters", "labelled enzymes"], size_rows, "split-table")}</div>
<div>{fold_html}</div>
</div>
{missing_html}
<details><summary>Positive enzymes per ensemble and split</summary>
{table(["ensemble", *SPLITS], label_rows, "split-labels-table")}</details>
</section>"""
