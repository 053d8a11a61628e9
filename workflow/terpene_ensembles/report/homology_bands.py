"""Report subsection "Reliability by homology band": top-call precision by best identity to
the training enzymes, the model next to the homology baseline, the procedure behind each
band, the honesty check on held-out enzymes and what a call in each band means."""

from __future__ import annotations

from terpene_ensembles.report import plots
from terpene_ensembles.report.html import esc, figure, metric_cell, table

# What a call means, in plain words, by the procedure that estimated its band.
MEANING = {
    "grouped_folds": "the query is about as far from the characterised enzymes as a new "
    "family is; the number is measured on whole families the model never saw",
    "random_folds": "a characterised enzyme this close exists, so the call mostly transfers "
    "its annotation; the number is measured with such close homologs in training",
}
ROW_FIELDS = ("top_precision", "call_precision", "call_recall")


def interval_cell(metrics: dict, base: str) -> str:
    """``precision [low, high]`` with every number a metrics.json cell."""
    return (
        metric_cell(metrics, f"{base}.top_precision")
        + metric_cell(metrics, f"{base}.top_precision_low")
        + metric_cell(metrics, f"{base}.top_precision_high")
    )


def band_table(metrics: dict, predictors: list[str]) -> str:
    node = metrics["reliability"]
    header = ["band", "procedure", "enzymes", f"{predictors[0]} expected top-call precision"]
    for name in predictors:
        header += [
            f"{name} top-call precision",
            "95% low",
            "95% high",
            f"{name} call precision",
            f"{name} call recall",
        ]
    rows = []
    model_rows = node["predictors"][predictors[0]]
    for i, row in enumerate(model_rows):
        cells = f"<th>{esc(row['band'])}</th><td>{esc(row['procedure'])}</td>"
        cells += metric_cell(metrics, f"reliability.predictors.{predictors[0]}.{i}.n")
        cells += metric_cell(
            metrics, f"reliability.predictors.{predictors[0]}.{i}.expected_top_precision"
        )
        for name in predictors:
            base = f"reliability.predictors.{name}.{i}"
            cells += interval_cell(metrics, base)
            cells += metric_cell(metrics, f"{base}.call_precision")
            cells += metric_cell(metrics, f"{base}.call_recall")
        rows.append(cells)
    return table(header, rows, "homology-band-table")


def honesty_table(metrics: dict) -> str:
    checks = metrics["reliability"].get("honesty") or {}
    rows = []
    for where, result in checks.items():
        if not result:
            continue
        for i, row in enumerate(result["bands"]):
            base = f"reliability.honesty.{where}.bands.{i}"
            rows.append(
                f"<th>{esc(where)}</th><td>{esc(row['band'])}</td>"
                + "".join(
                    metric_cell(metrics, f"{base}.{key}")
                    for key in (
                        "n",
                        "observed_top_precision",
                        "mean_expected_top_precision",
                        "difference",
                        "within_tolerance",
                    )
                )
            )
    return table(
        [
            "held-out set",
            "band",
            "enzymes",
            "observed top-call precision",
            "mean expected",
            "difference",
            "within tolerance",
        ],
        rows,
        "homology-honesty-table",
    )


def section_homology_bands(metrics: dict, figures: dict[str, bytes]) -> str:
    node = metrics.get("reliability")
    if not isinstance(node, dict):
        return '<p class="note">metrics.json has no reliability table by homology band.</p>'
    # The model first: metrics.json's keys are sorted, so the baseline may come first there.
    model = node["model"]
    predictors = [model, *(name for name in node["predictors"] if name != model)]
    bands = [b["band"] for b in node["bands"]]
    drawn = figure(
        plots.precision_by_band(bands, {name: node["predictors"][name] for name in predictors}),
        "top-call precision by homology band",
        "Top-call precision (95% Wilson interval) by best identity to a training enzyme; "
        "dashed, the model's expected top-call precision (the same made non-decreasing in "
        "identity); the table below gives the numbers and the procedure behind each band.",
        "homology-bands",
        figures,
    )
    procedures = "".join(
        f"<li><code>{esc(name)}</code>: {esc(text)}</li>"
        for name, text in node["procedures"].items()
    )
    meaning = "".join(
        f"<li><b>{esc(row['band'])}</b>: "
        + metric_cell(
            metrics, f"reliability.predictors.{predictors[0]}.{i}.expected_top_precision", "span"
        )
        + f" of top calls right ({esc(MEANING.get(row['procedure'], ''))}).</li>"
        for i, row in enumerate(node["predictors"][predictors[0]])
    )
    honesty = node.get("honesty") or {}
    tolerance = (honesty.get("test") or {}).get("tolerance")
    return f"""
<p>Accuracy depends above all on how close a query is to a characterised enzyme. Every
prediction carries its band (<code>identity_band</code>) and the band's top-call precision
(<code>expected_top_precision</code>). A band is estimated from the grouped folds when they
hold at least {esc(node["min_enzymes"])} enzymes in it, else from random folds:</p>
<ul>{procedures}</ul>
<p>The expected precision is the measured one made non-decreasing in identity: where a band
measured lower than the band below it (a few families can do that), the two are pooled into
their enzyme-weighted mean, so a closer homolog never promises less.</p>
{drawn}
{band_table(metrics, predictors)}
<p><b>What a call means.</b> At each best identity to a training enzyme, how often the
model's most likely ensemble is expected to be right:</p>
<ul>{meaning}</ul>
<p>Honesty on enzymes the table never saw: the test split (table from development enzymes
only) and each CV fold (table estimated without that fold); a band is checked when it holds
at least {esc(node["min_enzymes"])} enzymes, and passes within {esc(tolerance)}. High bands
are nearly empty here because both sets hold out whole clusters.</p>
{honesty_table(metrics)}"""
