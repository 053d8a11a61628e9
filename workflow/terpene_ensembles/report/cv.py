"""Report section "Cross-validation": grouped CV means and the ablations."""

from __future__ import annotations

from terpene_ensembles.learning.reference_predictors import REFERENCE_PREDICTORS
from terpene_ensembles.report.html import (
    HEADLINE_METRICS,
    acceptance_table,
    baseline_members,
    esc,
    has_path,
    is_scalar_number,
    lookup,
    metric_cell,
    table,
)
from terpene_ensembles.report.inputs import ReportInputs


def cv_table(metrics: dict) -> str:
    """Cross-validation mean and spread per predictor and metric, from metrics.json."""
    cv_path = "cv"
    if not isinstance(metrics.get(cv_path), dict):
        return '<p class="note">metrics.json has no cross-validation summary.</p>'
    node = lookup(metrics, cv_path)
    predictors = {
        name: value
        for name, value in node.items()
        if isinstance(value, dict)
        and any(isinstance(v, dict) and "mean" in v for v in value.values())
    }
    metric_keys = []
    for value in predictors.values():
        for key, stats in value.items():
            if isinstance(stats, dict) and "mean" in stats and key not in metric_keys:
                metric_keys.append(key)
    ordered = [k for k in HEADLINE_METRICS if k in metric_keys] + [
        k for k in metric_keys if k not in HEADLINE_METRICS
    ]
    # The model, the members it combines, then the baselines (members, then the references).
    baselines = [*baseline_members(metrics), *REFERENCE_PREDICTORS]
    names = ["model"] * ("model" in predictors)
    names += [n for n in predictors if n != "model" and n not in baselines]
    names += [n for n in baselines if n in predictors]
    rows = []
    for name in names:
        cells = []
        for key in ordered:
            base = f"{cv_path}.{name}.{key}"
            if has_path(metrics, f"{base}.mean"):
                mean = metric_cell(metrics, f"{base}.mean", "span")
                spread = metric_cell(metrics, f"{base}.std", "span")
                cells.append(f'<td class="num">{mean} &plusmn; {spread}</td>')
            else:
                cells.append('<td class="num missing">n/a</td>')
        css = ' class="ours"' if name == "model" else ""
        rows.append(f"<th{css}>{esc(name)}</th>{''.join(cells)}")
    other = [
        f"<th>{esc(k)}</th>{metric_cell(metrics, f'{cv_path}.{k}')}"
        for k, v in node.items()
        if is_scalar_number(v)
    ]
    other_html = table(["", ""], other, "cv-settings-table") if other else ""
    return (
        other_html
        + table(
            ["predictor", *(HEADLINE_METRICS.get(k, k) for k in ordered)],
            rows,
            "cv-table",
            "Grouped cross-validation folds: mean ± standard deviation (sample std over folds)",
        )
        + acceptance_table(metrics, f"{cv_path}.acceptance", "cv-acceptance-table")
    )


ABLATION_METRICS = ("map", "precision_at_1", "macro_f1", "micro_f1", "calls_per_enzyme")


def ablation_table(metrics: dict) -> str:
    """Variants of the model on the same CV folds (mean ± std), from metrics.json."""
    base = "cv.ablations"
    if not has_path(metrics, base):
        return '<p class="note">metrics.json has no ablations.</p>'
    rows = []
    for variant in lookup(metrics, base):
        cells = []
        for key in ABLATION_METRICS:
            mean = metric_cell(metrics, f"{base}.{variant}.{key}.mean", "span")
            spread = metric_cell(metrics, f"{base}.{variant}.{key}.std", "span")
            cells.append(f'<td class="num">{mean} &plusmn; {spread}</td>')
        css = ' class="ours"' if variant == "model" else ""
        rows.append(f"<th{css}>{esc(variant)}</th>{''.join(cells)}")
    return table(
        ["variant", *(HEADLINE_METRICS.get(k, k) for k in ABLATION_METRICS)],
        rows,
        "ablation-table",
        "Ablations on the same grouped CV folds: only:&lt;member&gt; a member alone; "
        "without:/with:&lt;member&gt; the combination with one member less/more (with:plm vs "
        "model is PLM on vs off); without_group:&lt;group&gt; members refitted without one "
        "feature group",
    )


def candidates_table(metrics: dict) -> str:
    """The final model's candidate members: each alone out of fold, and whether selection
    (``train.members: auto``) added it to the combiner, from metrics.json."""
    base = "training.candidates"
    if not has_path(metrics, base) or not isinstance(lookup(metrics, base), dict):
        return '<p class="note">metrics.json has no candidate members.</p>'
    rows = [
        f"<th>{esc(name)}</th>"
        + "".join(
            metric_cell(metrics, f"{base}.{name}.{key}")
            for key in ("oof_map", "oof_precision_at_1", "step", "selected")
        )
        for name in lookup(metrics, base)
    ]
    return table(
        ["member", "OOF mAP", "OOF P@1", "selection step", "selected"],
        rows,
        "candidates-table",
        "Candidate members of the final model: each alone on the out-of-fold rows of the "
        "development enzymes; selected: used by the combiner",
    )


def selection_counts_table(metrics: dict) -> str:
    """How many outer CV folds selected each member, from metrics.json."""
    base = "cv.member_selection"
    if not has_path(metrics, base) or not isinstance(lookup(metrics, base), dict):
        return '<p class="note">metrics.json has no cross-validation member selection.</p>'
    rows = [
        f"<th>{esc(name)}</th>{metric_cell(metrics, f'{base}.{name}')}"
        f"{metric_cell(metrics, 'cv.n_folds')}"
        for name in lookup(metrics, base)
    ]
    return table(
        ["member", "folds selecting it", "folds"],
        rows,
        "member-selection-table",
        "Members the combiner used, counted over the outer CV folds",
    )


def section_cv(inputs: ReportInputs) -> str:
    return f"""
<section id="cv"><h2>Cross-validation</h2>
<p>The same procedure (cross-fitting, stacking, calibration, thresholds), trained and scored
on k grouped outer folds (whole MMseqs2 clusters per fold).</p>
{cv_table(inputs.metrics)}
<h3>Member selection</h3>
<p>With <code>train.members: auto</code> the combiner's members are chosen by greedy forward
selection on out-of-fold scores of the development enzymes, inside every CV fold as well;
with an explicit list every listed member is used and no step is recorded.</p>
{candidates_table(inputs.metrics)}
{selection_counts_table(inputs.metrics)}
<h3>Ablations</h3>
{ablation_table(inputs.metrics)}
</section>"""
