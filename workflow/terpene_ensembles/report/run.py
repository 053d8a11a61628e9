"""Report section "Run": provenance, the protein language model, runtime per stage."""

from __future__ import annotations

import json

from terpene_ensembles.report.html import derived_cell, esc, is_scalar_number, metric_cell, table
from terpene_ensembles.report.inputs import ReportInputs


def plm_status(metrics: dict) -> tuple[str, str]:
    """(severity, message) about the protein language model behind the numbers."""
    plm = metrics.get("plm") or {}
    model = plm.get("model")
    if model in (None, "", "none") or not plm.get("enabled", True):
        return (
            "warning",
            "No protein language model was used in this run: the predictions rest on sequence "
            "features and homology only.",
        )
    if plm.get("weights_source") == "precomputed":
        sha = str(plm.get("precomputed_sha256") or "unknown")
        return (
            "ok",
            f"Protein language model embeddings: {model}, precomputed outside the pipeline "
            f"and read from {plm.get('precomputed_path')} (sha256 {sha[:12]}...; "
            "plm.precomputed).",
        )
    if plm.get("random_weights"):
        return (
            "danger",
            f"The protein language model ({model}) had RANDOM weights: its embeddings carry no "
            "pretrained knowledge. These results are a pipeline check, not an estimate of what "
            "a pretrained ESM2 achieves. Supply real weights (plm.checkpoint or the torch hub "
            "cache) for meaningful PLM results.",
        )
    return ("ok", f"Protein language model: {model} with pretrained weights.")


def section_run(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    plm = metrics.get("plm") if isinstance(metrics.get("plm"), dict) else {}
    plm_rows = [
        f"<th>{esc(key)}</th>"
        + (
            metric_cell(metrics, f"plm.{key}", css="text")
            if is_scalar_number(value) or isinstance(value, bool)
            else f"<td>{esc(value)}</td>"
        )
        for key, value in plm.items()
        if not isinstance(value, (dict, list))
    ]
    checksum = inputs.input_sha256 or "input file not found when the report was built"
    provenance = [
        f"<th>report generated</th><td>{esc(inputs.generated_at)}</td>",
        f"<th>code version</th><td><code>{esc(inputs.code_version)}</code></td>",
        f"<th>input</th><td><code>{esc(inputs.input_path)}</code></td>",
        f"<th>input sha256</th><td><code>{esc(checksum)}</code></td>",
    ]
    parse_sha = inputs.parse_summary.get("input_sha256")
    if parse_sha and inputs.input_sha256 and parse_sha != inputs.input_sha256:
        provenance.append(
            '<th>warning</th><td class="bad">the input changed since the parse stage read it '
            f"(parse saw <code>{esc(parse_sha)}</code>)</td>"
        )
    benchmark_html = '<p class="note">No Snakemake benchmark files found.</p>'
    if not inputs.benchmarks.empty:
        rows = [
            f"<td><code>{esc(row.stage)}</code></td>"
            f"{derived_cell(row.seconds, 'benchmarks')}{derived_cell(row.max_rss_mb, 'benchmarks')}"
            for row in inputs.benchmarks.itertuples()
        ]
        total = derived_cell(inputs.benchmarks["seconds"].sum(), "benchmarks")
        rows.append(f"<th>total</th>{total}<td></td>")
        benchmark_html = table(
            ["stage (benchmark file)", "wall time (s)", "max RSS (MB)"], rows, "runtime-table"
        )
    config_text = json.dumps(inputs.config, indent=2, sort_keys=True)
    plm_html = (
        table(["", ""], plm_rows, "plm-table")
        if plm_rows
        else '<p class="note">metrics.json names no PLM.</p>'
    )
    return f"""
<section id="run"><h2>Run</h2>
{table(["", ""], provenance, "provenance-table")}
<h3>Protein language model</h3>
{plm_html}
<h3>Runtime per stage</h3>
<p>From the Snakemake benchmark files (<code>results/benchmarks/</code>) of the run that
produced these results; the report's own stage is not included.</p>
{benchmark_html}
<details><summary>Configuration used</summary><pre>{esc(config_text)}</pre></details>
</section>"""
