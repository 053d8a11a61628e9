"""Self-contained HTML report of a training run (results/report/report.html).

Every number that comes from ``metrics.json`` is rendered by :func:`format_number` inside an
element carrying ``data-metric="<dotted path into metrics.json>"``, so a test (or a reader with
the browser's inspector) can check each one against the file. Numbers the report derives
itself (counts from the data files, per-kingdom breakdowns) carry ``data-derived`` instead and
say where they come from. Plots are embedded as ``data:`` URIs; the page loads nothing else.

Modules, by concern: ``html`` (formatting and table/figure building blocks), ``inputs``
(reading and checking the stage outputs), one module per section (``run``, ``data``,
``split``, ``results``, ``cv``), ``plots`` (the figures), ``style`` (the style sheet) and
``page`` (the whole page and its figures).
"""

from terpene_ensembles.report.cv import ABLATION_METRICS
from terpene_ensembles.report.html import format_number, has_path, lookup
from terpene_ensembles.report.inputs import ReportInputs, load_inputs
from terpene_ensembles.report.page import Report, build_report
from terpene_ensembles.report.results import N_EXAMPLE_ENZYMES
from terpene_ensembles.report.run import plm_status

__all__ = [
    "ABLATION_METRICS",
    "N_EXAMPLE_ENZYMES",
    "Report",
    "ReportInputs",
    "build_report",
    "format_number",
    "has_path",
    "load_inputs",
    "lookup",
    "plm_status",
]
