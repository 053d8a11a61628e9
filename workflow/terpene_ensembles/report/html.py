"""HTML building blocks of the report: number formatting, cells marked with their
metrics.json path, tables and figures."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable

import numpy as np

from terpene_ensembles.learning.reference_predictors import REFERENCE_PREDICTORS

# Headline metrics in display order; other scalar keys of a predictor follow them.
HEADLINE_METRICS = {
    "map": "mAP",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "precision_at_1": "precision@1",
    "recall_at_3": "recall@3",
    "call_rate": "call rate",
    "calls_per_enzyme": "calls / enzyme",
    "true_per_enzyme": "true / enzyme",
    "decision_efficiency": "decision efficiency",
    "best_threshold_macro_f1": "macro-F1 at best thresholds",
    "best_threshold_calls_per_enzyme": "calls / enzyme at best thresholds",
    "ece_called": "ECE (called)",
    "substrate_map": "substrate mAP",
}
COUNT_LABELS = {
    "n_enzymes": "test enzymes",
    "n_labelled": "labelled",
    "n_classes_with_positives": "ensembles with positives",
}


def baseline_members(metrics: dict) -> list[str]:
    """The baselines that are members (kNN, logistic regression), in the run's order: as the
    train stage recorded them, else the test section's less the reference predictors."""
    recorded = (metrics.get("training") or {}).get("baselines")
    if recorded is not None:
        return list(recorded)
    tested = (metrics.get("test") or {}).get("baselines") or {}
    return [name for name in tested if name not in REFERENCE_PREDICTORS]


def homology_baseline(metrics: dict) -> str | None:
    """The baseline that is annotation transfer from homologs (the identity kNN), as the
    train stage recorded it; the report sets it beside the model."""
    return (metrics.get("training") or {}).get("homology_baseline")


def format_number(value) -> str:
    """The one formatter for numbers shown in the report (integers exact, floats 3 d.p.)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return "n/a"
    return f"{number:.3f}"


def lookup(tree, path: str):
    """Follow a dotted path (dict keys, or list indices) into nested JSON data."""
    node = tree
    for part in path.split("."):
        if isinstance(node, dict):
            node = node[part]
        elif isinstance(node, list):
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


def has_path(tree, path: str) -> bool:
    try:
        lookup(tree, path)
    except (KeyError, IndexError, ValueError, TypeError):
        return False
    return True


def is_scalar_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def metric_cell(metrics: dict, path: str, tag: str = "td", css: str = "num") -> str:
    """A cell holding metrics.json's value at ``path``, marked for the consistency test."""
    if has_path(metrics, path):
        value = lookup(metrics, path)
        if is_scalar_number(value) or value is None or isinstance(value, bool):
            return f'<{tag} class="{css}" data-metric="{esc(path)}">{format_number(value)}</{tag}>'
    return f'<{tag} class="{css} missing" title="not in metrics.json">n/a</{tag}>'


def derived_cell(value, source: str, tag: str = "td") -> str:
    """A number computed by the report from a data file (not a metrics.json entry)."""
    return f'<{tag} class="num" data-derived="{esc(source)}">{format_number(value)}</{tag}>'


def table(header: Iterable[str], rows: Iterable[str], table_id: str = "", caption: str = "") -> str:
    id_attribute = f' id="{esc(table_id)}"' if table_id else ""
    caption_html = f"<caption>{esc(caption)}</caption>" if caption else ""
    header = list(header)
    head = (
        "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>"
        if any(header)
        else ""
    )
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table{id_attribute}>{caption_html}{head}<tbody>{body}</tbody></table>"


PNG_URI_PREFIX = "data:image/png;base64,"


def figure(
    uri: str | None,
    alt: str,
    caption: str,
    figure_id: str = "",
    figures: dict[str, bytes] | None = None,
) -> str:
    """A figure element; a named PNG figure is also kept in ``figures`` (id -> PNG bytes)."""
    if uri is None:
        return f'<p class="note">{esc(alt)}: not enough data to draw.</p>'
    if figures is not None and figure_id and uri.startswith(PNG_URI_PREFIX):
        figures[figure_id] = base64.b64decode(uri[len(PNG_URI_PREFIX) :])
    id_attribute = f' id="{esc(figure_id)}"' if figure_id else ""
    return (
        f'<figure{id_attribute}><img src="{uri}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def per_class_path(metrics: dict, base: str, ensemble_id: str) -> str | None:
    """Path of a class's entry under ``<base>.per_class`` (a dict by ensemble id)."""
    path = f"{base}.per_class.{ensemble_id}"
    return path if has_path(metrics, path) else None


def numeric_leaves(tree, prefix: str = "") -> list[tuple[str, object]]:
    """All (dotted path, value) pairs of numbers under ``tree``, in file order."""
    leaves = []
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return [(prefix, tree)] if is_scalar_number(tree) else []
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        leaves.extend(numeric_leaves(value, path))
    return leaves


def optional_leaves(metrics: dict, section: str) -> str:
    if not isinstance(metrics.get(section), dict):
        return ""
    return f"<h4>{esc(section)}</h4>" + leaves_table(metrics, section, f"{section}-table")


def leaves_table(metrics: dict, base: str, table_id: str = "") -> str:
    """Every number (marked) and short text value under ``base``, one row each."""
    rows = [
        f"<td><code>{esc(path[len(base) + 1 :])}</code></td>{metric_cell(metrics, path)}"
        for path, _ in numeric_leaves(lookup(metrics, base), base)
    ]
    rows += [
        f"<td><code>{esc(key)}</code></td><td>{esc(value)}</td>"
        for key, value in lookup(metrics, base).items()
        if isinstance(value, str) and len(value) <= 80
    ]
    return table(["metric", "value"], rows, table_id=table_id)


def metric_or_derived(metrics: dict, path: str, value, source: str) -> str:
    """metrics.json's number when it has ``path``, else the report's own count from a file."""
    if has_path(metrics, path) and is_scalar_number(lookup(metrics, path)):
        return metric_cell(metrics, path)
    return derived_cell(value, source)


def acceptance_table(metrics: dict, base: str, table_id: str) -> str:
    """The acceptance checks evaluate/crossval record next to the metrics."""
    if not has_path(metrics, base) or not isinstance(lookup(metrics, base), dict):
        return ""
    rows = [
        f"<th>{esc(key.replace('_', ' '))}</th>{metric_cell(metrics, f'{base}.{key}')}"
        for key, value in lookup(metrics, base).items()
        if is_scalar_number(value) or isinstance(value, bool) or value is None
    ]
    return table(["check", "value"], rows, table_id, "Acceptance checks (release criteria)")
