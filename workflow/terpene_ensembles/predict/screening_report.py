"""The screening report: ``results/predict/NAME/report.html``, one self-contained page.

Counts (records in, TPS candidates, predicted, out of domain, not TPS, rejected, with the
rejection reasons), the called-ensemble distribution, a histogram of the top-call
probability, the out-of-domain reasons and a sortable table of the predicted candidates
(top calls, probabilities, nearest characterised enzymes and their identity, out-of-domain
reasons). Plots are inline SVG, styles and the few lines of table-sorting script are
inline: the page loads nothing.

Every number copied from ``summary.json`` sits in an element with
``data-summary="<dotted key>"`` holding the plain integer, so a test (or a reader) can
check it against the file; numbers the page derives from predictions.parquet carry
``data-derived`` instead.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.html_page import page_start
from terpene_ensembles.io_utils import atomic_path, read_json

MAX_TABLE_ROWS = 2000
HISTOGRAM_BINS = 10
COUNT_ROWS = (
    ("records_in", "records in"),
    ("tps_candidates", "TPS candidates"),
    ("predicted", "predicted"),
    ("out_of_domain", "out of domain (predicted, but no trusted call)"),
    ("not_tps", "not TPS (no TPS Pfam domain at its gathering cutoff)"),
    ("rejected", "rejected (invalid records)"),
)
TABLE_COLUMNS = (
    ("record", "record", "num"),
    ("id", "id", "text"),
    ("length", "length", "num"),
    ("top_call", "top call", "text"),
    ("top_probability", "probability", "num"),
    ("called", "called ensembles", "text"),
    ("support", "members ranking each call first", "text"),
    ("top3", "top 3 (probability)", "text"),
    ("nearest", "nearest characterised enzymes (identity)", "text"),
    ("nearest_ensembles", "nearest enzyme: name and ensembles", "text"),
    ("best_identity", "best identity", "num"),
    ("identity_band", "homology band", "text"),
    ("expected_top_precision", "expected top-call precision", "num"),
    ("tps_domains", "TPS domains", "text"),
    ("ood_reason", "out-of-domain reason", "text"),
)
# Genome input (genes.tsv): where each candidate lies, after its id.
LOCATION_COLUMNS = (
    ("contig", "contig", "text"),
    ("start", "start", "num"),
    ("end", "end", "num"),
    ("strand", "strand", "text"),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2733;
background:#fafbfc;line-height:1.45}
header,main{max-width:1200px;margin:0 auto;padding:0 1.2rem}
h1{font-size:1.5rem;margin:1.2rem 0 .3rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #d8dee4;padding-bottom:.2rem}
.note{color:#57606a;font-size:.9rem}
.banner{padding:.6rem .9rem;border-radius:6px;margin:.6rem 0}
.banner.warn{background:#fff4ce;border:1px solid #d4a72c}
.banner.ok{background:#e6f4ea;border:1px solid #4ac26b}
table{border-collapse:collapse;margin:.5rem 0;font-size:.88rem;background:#fff}
th,td{border:1px solid #d8dee4;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
#candidates th{cursor:pointer;background:#f3f5f7;position:sticky;top:0}
#candidates th[aria-sort=ascending]::after{content:" \\25B2"}
#candidates th[aria-sort=descending]::after{content:" \\25BC"}
.bar{fill:#3b78b5}.axis{stroke:#57606a}.label{font-size:11px;fill:#1d2733}
.scroll{max-height:70vh;overflow:auto}
BAND_CSS
@media print{.scroll{max-height:none;overflow:visible}#candidates th{position:static}}
"""

# Row colour of a candidate by its homology band (predict.evidence / learning.reliability):
# from red (far from any characterised enzyme) to green (a near-twin is characterised).
BAND_COLOURS = ("#f8d7da", "#fbe3d0", "#fdf1c7", "#eef5d0", "#dcefdc", "#c8e6c9")
BAND_CSS = "".join(
    f"#candidates tr.band-{i} td{{background:{colour}}}" for i, colour in enumerate(BAND_COLOURS)
)
CSS = CSS.replace("BAND_CSS", BAND_CSS)


def band_class(band: str) -> str:
    """CSS class of a homology band ('' for an unknown one)."""
    from terpene_ensembles.learning.reliability import BAND_LABELS

    return f"band-{BAND_LABELS.index(band)}" if band in BAND_LABELS else ""


def band_legend() -> str:
    from terpene_ensembles.learning.reliability import BAND_LABELS

    cells = "".join(
        f'<td style="background:{colour}">{esc(label)}</td>'
        for label, colour in zip(BAND_LABELS, BAND_COLOURS, strict=True)
    )
    return (
        '<table id="band-legend"><tr><th>homology band (best identity to a characterised '
        f"enzyme)</th>{cells}</tr></table>"
    )


# Sorts the candidates table by a clicked header; numeric columns compare as numbers
# (empty cells last). No other script on the page.
SORT_SCRIPT = """
(function () {
  var table = document.getElementById("candidates");
  if (!table) { return; }
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = th.dataset.kind === "num";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        if (numeric) {
          x = x === "" ? NaN : parseFloat(x); y = y === "" ? NaN : parseFloat(y);
          if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }
          return ascending ? x - y : y - x;
        }
        return ascending ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def summary_cell(summary: dict, key: str, tag: str = "td") -> str:
    """A count from summary.json (dotted key), marked with data-summary."""
    value = summary
    for part in key.split("."):
        value = value.get(part, {}) if isinstance(value, dict) else {}
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f'<{tag} class="num">-</{tag}>'
    return f'<{tag} class="num" data-summary="{esc(key)}">{int(value)}</{tag}>'


def derived_cell(value: int, source: str) -> str:
    return f'<td class="num" data-derived="{esc(source)}">{int(value)}</td>'


def as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    return list(value)


def count_rows(summary: dict) -> list[tuple[str, str]]:
    """(summary key, label) of the counts the report shows."""
    if "records_in" not in summary and "rows_in" in summary:
        # A MARTS-DB export is scored whole: rows in, every distinct enzyme a candidate.
        rows = [("rows_in", "export rows in"), ("enzymes", "distinct enzymes (all scored)")]
        return rows + [r for r in COUNT_ROWS if r[0] in ("predicted", "out_of_domain", "rejected")]
    return [r for r in COUNT_ROWS if r[0] in summary]


def count_table(summary: dict) -> str:
    rows = count_rows(summary)
    body = "".join(
        f"<tr><th>{esc(label)}</th>{summary_cell(summary, key)}</tr>" for key, label in rows
    )
    for reason in sorted(summary.get("rejected_by_reason", {})):
        body += (
            f"<tr><th>&nbsp;&nbsp;rejected: {esc(reason)}</th>"
            f"{summary_cell(summary, f'rejected_by_reason.{reason}')}</tr>"
        )
    return f'<table id="counts-table"><tbody>{body}</tbody></table>'


def ensemble_distribution(predictions: pd.DataFrame) -> tuple[Counter, Counter]:
    called = Counter(e for calls in predictions["called"] for e in as_list(calls))
    top = Counter(as_list(t)[0] for t in predictions["top3"] if len(as_list(t)))
    return called, top


def bar_chart(counts: list[tuple[str, int]], chart_id: str, title: str) -> str:
    """Horizontal bars as inline SVG."""
    if not counts:
        return f'<p class="note" id="{esc(chart_id)}">nothing to plot: no predictions</p>'
    row, label_width, bar_width = 18, 230, 420
    top = max(v for _, v in counts) or 1
    height = row * len(counts) + 10
    bars = []
    for i, (name, value) in enumerate(counts):
        y = 5 + i * row
        width = bar_width * value / top
        bars.append(
            f'<text class="label" x="{label_width - 6}" y="{y + 12}" text-anchor="end">'
            f"{esc(name)}</text>"
            f'<rect class="bar" x="{label_width}" y="{y + 2}" width="{width:.1f}" '
            f'height="{row - 5}"><title>{esc(name)}: {value}</title></rect>'
            f'<text class="label" x="{label_width + width + 4:.1f}" y="{y + 12}">{value}</text>'
        )
    total_width = label_width + bar_width + 60
    return (
        f'<svg id="{esc(chart_id)}" role="img" aria-label="{esc(title)}" width="{total_width}" '
        f'height="{height}" viewBox="0 0 {total_width} {height}">{"".join(bars)}</svg>'
    )


def probability_histogram(probabilities: np.ndarray) -> str:
    """Histogram of the top-call probability, 10 bins over [0, 1], inline SVG."""
    counts, edges = np.histogram(probabilities, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    width, height, margin = 460, 200, 30
    top = max(int(counts.max()) if len(counts) else 0, 1)
    step = (width - 2 * margin) / HISTOGRAM_BINS
    parts = [
        f'<line class="axis" x1="{margin}" y1="{height - margin}" x2="{width - margin}" '
        f'y2="{height - margin}"/>'
    ]
    for i, count in enumerate(counts):
        bar = (height - 2 * margin) * count / top
        x = margin + i * step
        parts.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{height - margin - bar:.1f}" '
            f'width="{step - 2:.1f}" height="{bar:.1f}"><title>{edges[i]:.1f}-'
            f"{edges[i + 1]:.1f}: {int(count)}</title></rect>"
            f'<text class="label" x="{x + step / 2:.1f}" y="{height - margin - bar - 3:.1f}" '
            f'text-anchor="middle">{int(count)}</text>'
        )
    for i in range(0, HISTOGRAM_BINS + 1, 2):
        x = margin + i * step
        parts.append(
            f'<text class="label" x="{x:.1f}" y="{height - margin + 14}" '
            f'text-anchor="middle">{i / HISTOGRAM_BINS:.1f}</text>'
        )
    return (
        f'<svg id="probability-histogram" role="img" aria-label="histogram of the top-call '
        f'probability" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{''.join(parts)}</svg>"
    )


def ood_table(predictions: pd.DataFrame) -> str:
    reasons = Counter(
        part
        for value in predictions["ood_reason"].fillna("")
        for part in str(value).split(";")
        if part
    )
    if not reasons:
        return '<p class="note">No predicted candidate is out of domain.</p>'
    rows = "".join(
        f"<tr><th>{esc(reason)}</th>{derived_cell(count, 'predictions.ood_reason')}</tr>"
        for reason, count in sorted(reasons.items())
    )
    header = "<thead><tr><th>reason</th><th>candidates</th></tr></thead>"
    return f'<table id="ood-table">{header}<tbody>{rows}</tbody></table>'


def table_columns(predictions: pd.DataFrame) -> tuple:
    if "contig" not in predictions.columns:
        return TABLE_COLUMNS
    return TABLE_COLUMNS[:2] + LOCATION_COLUMNS + TABLE_COLUMNS[2:]


def candidate_rows(predictions: pd.DataFrame) -> list[dict]:
    rows = []
    for row in predictions.itertuples(index=False):
        location = {}
        if "contig" in predictions.columns:
            location = {
                "contig": (row.contig, row.contig),
                "start": (int(row.start), str(int(row.start))),
                "end": (int(row.end), str(int(row.end))),
                "strand": (row.strand, row.strand),
            }
        top3 = as_list(row.top3)
        top3_p = as_list(row.top3_probability)
        near = as_list(row.nearest_training)
        near_id = as_list(row.nearest_identity)
        best = float(row.best_identity) if row.best_identity == row.best_identity else None
        expected = getattr(row, "expected_top_precision", float("nan"))
        expected = None if expected is None or expected != expected else float(expected)
        band = getattr(row, "identity_band", "") or ""
        near_name = getattr(row, "nearest_training_name", "") or ""
        near_ensembles = as_list(getattr(row, "nearest_training_ensembles", []))
        nearest_first = near_ensembles[0] if near_ensembles else ""
        support = as_list(getattr(row, "support", []))
        rows.append(
            {
                **location,
                "record": (int(row.record), str(int(row.record))),
                "id": (row.id, row.id),
                "length": (int(row.length), str(int(row.length))),
                "top_call": (top3[0] if top3 else "", top3[0] if top3 else ""),
                "top_probability": (
                    f"{top3_p[0]:.6g}" if top3_p else "",
                    f"{top3_p[0]:.3f}" if top3_p else "",
                ),
                "called": (";".join(as_list(row.called)), ", ".join(as_list(row.called))),
                "top3": (
                    ";".join(top3),
                    ", ".join(f"{e} ({p:.3f})" for e, p in zip(top3, top3_p, strict=False)),
                ),
                "nearest": (
                    ";".join(near),
                    ", ".join(f"{e} ({p:.2f})" for e, p in zip(near, near_id, strict=False)),
                ),
                "support": (";".join(support), "; ".join(support)),
                "nearest_ensembles": (
                    f"{near_name} {nearest_first}".strip(),
                    f"{near_name}: {nearest_first}" if near_name else nearest_first,
                ),
                "best_identity": (
                    "" if best is None else f"{best:.6g}",
                    "" if best is None else f"{best:.2f}",
                ),
                "identity_band": (band, band),
                "expected_top_precision": (
                    "" if expected is None else f"{expected:.6g}",
                    "" if expected is None else f"{expected:.2f}",
                ),
                "tps_domains": (
                    ";".join(as_list(row.tps_domains)),
                    ", ".join(as_list(row.tps_domains)),
                ),
                "ood_reason": (row.ood_reason or "", (row.ood_reason or "").replace(";", "; ")),
            }
        )
    return rows


def candidates_table(predictions: pd.DataFrame) -> str:
    shown = predictions.head(MAX_TABLE_ROWS)
    columns = table_columns(predictions)
    header = "".join(
        f'<th scope="col" data-kind="{kind}" class="{kind}">{esc(label)}</th>'
        for _, label, kind in columns
    )
    body = []
    for row in candidate_rows(shown):
        cells = "".join(
            f'<td class="{kind}" data-value="{esc(row[key][0])}">{esc(row[key][1])}</td>'
            for key, _, kind in columns
        )
        band = band_class(row["identity_band"][0])
        body.append(f'<tr class="{band}">{cells}</tr>' if band else f"<tr>{cells}</tr>")
    note = (
        f'<p class="note">The first {MAX_TABLE_ROWS} of {len(predictions)} predicted candidates, '
        "in input order (genome input: by contig and position); every row is in "
        "predictions.tsv.</p>"
        if len(predictions) > MAX_TABLE_ROWS
        else ""
    )
    return (
        f'{note}<p class="note">Click a column header to sort. Rows are coloured by homology '
        "band; the expected top-call precision is the band's out-of-fold estimate.</p>"
        f'{band_legend()}<div class="scroll">'
        f'<table id="candidates"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def build_screening_report(
    summary: dict, predictions: pd.DataFrame, name: str, generated_at: str | None = None
) -> str:
    generated_at = generated_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    plm = summary.get("plm") or {}
    random_weights = str(plm.get("random_weights", "")).lower() == "true" or (
        plm.get("random_weights") is True
    )
    if random_weights:
        banner = (
            '<div class="banner warn" id="plm-banner" role="alert">The model\'s protein '
            "language model has RANDOM weights (a demo or test run): treat the calls as a "
            "pipeline check, not as biology.</div>"
        )
    else:
        banner = ""
    title = f"Screening report: {name}"
    called, top = ensemble_distribution(predictions)
    top_probability = np.array(
        [as_list(p)[0] for p in predictions["top3_probability"] if len(as_list(p))], dtype=float
    )
    message = summary.get("message") or ""
    message_html = (
        f'<div class="banner warn" id="message" role="status">{esc(message)}</div>'
        if message
        else ""
    )
    settings = summary.get("settings") or {}
    run_rows = [
        ("input", summary.get("input", "")),
        ("input format", summary.get("input_format", "")),
        ("model", summary.get("model_dir", "")),
        ("PLM", plm.get("model", "none")),
        ("prefilter", summary.get("prefilter", "none (MARTS-DB export scored whole)")),
        ("shards", len(summary.get("shards", [])) or 1),
        ("identity floor", settings.get("identity_floor", "")),
        ("seconds (all jobs)", summary.get("seconds", "")),
        ("peak memory, MiB (largest job)", summary.get("peak_rss_mib", "")),
    ]
    run_table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in run_rows)
    called_sorted = sorted(called.items(), key=lambda kv: (-kv[1], kv[0]))
    top_sorted = sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))
    return (
        page_start(title, CSS)
        + f"""<p class="note">Generated {esc(generated_at)} from summary.json and \
predictions.parquet.</p>
{banner}{message_html}
</header>
<main>
<section id="counts"><h2>Counts</h2>
<p class="note">records in = predicted + not TPS + rejected. A call is trusted when the
candidate is not out of domain: it has a TPS Pfam domain and a characterised training
enzyme above the identity floor.</p>
{count_table(summary)}
</section>
<section id="ensembles"><h2>Called ensembles</h2>
<p class="note">Candidates calling each ensemble (a candidate can call several).</p>
{bar_chart(called_sorted, "called-chart", "candidates per called ensemble")}
<p class="note">Top call per candidate.</p>
{bar_chart(top_sorted, "top-chart", "candidates per top call")}
</section>
<section id="probabilities"><h2>Top-call probability</h2>
{probability_histogram(top_probability)}
</section>
<section id="out-of-domain"><h2>Out-of-domain reasons</h2>
{ood_table(predictions)}
</section>
<section id="candidates-section"><h2>Candidates</h2>
{candidates_table(predictions)}
</section>
<section id="run"><h2>Run</h2>
<table id="run-table"><tbody>{run_table}</tbody></table>
</section>
</main>
<script>{SORT_SCRIPT}</script>
</body>
</html>
"""
    )


def write_screening_report(
    outdir: str | os.PathLike, report_path: str | os.PathLike | None = None
) -> Path:
    """report.html of a predict folder (summary.json + predictions.parquet)."""
    outdir = Path(outdir)
    report_path = Path(report_path) if report_path else outdir / "report.html"
    summary = read_json(outdir / "summary.json")
    predictions = pd.read_parquet(outdir / "predictions.parquet")
    genes_path = outdir / "genes.tsv"
    if genes_path.is_file():  # genome input: candidates listed by contig and position
        from terpene_ensembles.predict.genome_output import read_genes

        genes = read_genes(genes_path)[["record", "contig", "start", "end", "strand"]]
        predictions = predictions.merge(genes, on="record", how="left")
    page = build_screening_report(summary, predictions, outdir.name)
    with atomic_path(report_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return report_path


def summary_numbers(summary: dict) -> dict[str, int]:
    """The keys a report marks with data-summary, and their values (for tests)."""
    flat = {key: summary[key] for key, _ in count_rows(summary) if key in summary}
    for reason, count in (summary.get("rejected_by_reason") or {}).items():
        flat[f"rejected_by_reason.{reason}"] = count
    return flat
