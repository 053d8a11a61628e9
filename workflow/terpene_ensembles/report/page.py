"""The whole report page and its figures."""

from __future__ import annotations

from dataclasses import dataclass

from terpene_ensembles.html_page import page_start
from terpene_ensembles.report.cv import section_cv
from terpene_ensembles.report.data import section_data
from terpene_ensembles.report.html import esc, homology_baseline, metric_cell
from terpene_ensembles.report.inputs import ReportInputs
from terpene_ensembles.report.results import section_results
from terpene_ensembles.report.run import plm_status, section_run
from terpene_ensembles.report.split_section import section_split
from terpene_ensembles.report.style import CSS


@dataclass(frozen=True)
class Report:
    html: str  # the whole self-contained page
    figures: dict[str, bytes]  # its named PNG figures (figure id -> PNG bytes)


def build_report(inputs: ReportInputs) -> Report:
    """The whole page as one HTML string, and its named figures."""
    severity, message = plm_status(inputs.metrics)
    title = "Terpene synthase functional-ensemble prediction: report"
    # Main headline: the model's test mAP and macro-F1 next to the homology baseline's (the
    # identity kNN, as the train stage recorded it).
    homology = homology_baseline(inputs.metrics)

    def beside(metric: str) -> str:
        if homology is None:
            return ""
        cell = metric_cell(inputs.metrics, f"test.baselines.{homology}.{metric}", "span")
        return f" (identity kNN {cell})"

    headline = (
        "<p class='headline'>Test mAP "
        f"{metric_cell(inputs.metrics, 'test.model.map', 'strong')}{beside('map')}; macro-F1 "
        f"{metric_cell(inputs.metrics, 'test.model.macro_f1', 'strong')}{beside('macro_f1')}.</p>"
    )
    role = "alert" if severity != "ok" else "status"
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in (
            ("run", "Run"),
            ("data", "Data"),
            ("split", "Split"),
            ("results", "Results"),
            ("cv", "Cross-validation"),
        )
    )
    figures: dict[str, bytes] = {}
    body = "".join(
        (
            section_run(inputs),
            section_data(inputs),
            section_split(inputs),
            section_results(inputs, figures),
            section_cv(inputs),
        )
    )
    page = (
        page_start(title, CSS)
        + f"""<p class="note">Generated {esc(inputs.generated_at)} &middot; \
{esc(inputs.code_version)}</p>
<div class="banner {severity}" id="plm-banner" role="{role}">{esc(message)}</div>
{headline}
<nav>{nav}</nav>
</header>
<main>{body}</main>
</body>
</html>
"""
    )
    return Report(page, figures)
