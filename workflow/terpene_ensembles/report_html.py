"""The self-contained HTML report: provenance, data, split, results.

Every number that comes from ``metrics.json`` is rendered by :func:`format_number` inside an
element carrying ``data-metric="<dotted path into metrics.json>"``, so a test (or a reader with
the browser's inspector) can check each one against the file. Numbers the report derives
itself (counts from the data files, per-kingdom breakdowns) carry ``data-derived`` instead and
say where they come from. Plots are embedded as ``data:`` URIs; the page loads nothing else.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles import __version__, report_plots
from terpene_ensembles.io_utils import read_json, sha256_file, sha256_text

SPLITS = ("train", "val", "test")
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
    "ece_called": "ECE (called)",
    "substrate_map": "substrate mAP",
}
COUNT_LABELS = {
    "n_enzymes": "test enzymes",
    "n_labelled": "labelled",
    "n_classes_with_positives": "ensembles with positives",
}
BASELINE_ORDER = ("knn_identity", "logistic_regression", "label_prior", "random")
PER_CLASS_FIELDS = {
    "ap": "AP",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "threshold": "threshold",
    "support": "test support",
}
PR_PREDICTORS = ("model", "knn_identity", "logistic_regression")
N_EXAMPLE_ENZYMES = 8
N_NEIGHBOURS = 3


# --------------------------------------------------------------------------- formatting


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


def figure(uri: str | None, alt: str, caption: str, figure_id: str = "") -> str:
    if uri is None:
        return f'<p class="note">{esc(alt)}: not enough data to draw.</p>'
    id_attribute = f' id="{esc(figure_id)}"' if figure_id else ""
    return (
        f'<figure{id_attribute}><img src="{uri}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


# --------------------------------------------------------------------------- inputs


@dataclass
class ReportInputs:
    metrics: dict
    enzymes: pd.DataFrame
    labels: pd.DataFrame
    ensembles: pd.DataFrame
    split: pd.DataFrame
    calibrated: pd.DataFrame
    identity: pd.DataFrame
    test_predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    config: dict = field(default_factory=dict)
    parse_summary: dict = field(default_factory=dict)
    split_summary: dict = field(default_factory=dict)
    input_path: str = ""
    input_sha256: str | None = None
    code_version: str = __version__
    generated_at: str = ""

    @property
    def class_ids(self) -> list[str]:
        return [c for c in self.labels.columns if c != "id"]

    @property
    def class_names(self) -> dict[str, str]:
        names = dict(zip(self.ensembles["ensemble_id"], self.ensembles["name"], strict=True))
        return {c: str(names.get(c) or c) for c in self.class_ids}

    @property
    def short_names(self) -> dict[str, str]:
        """Names up to their first colon ("p-menthane: limonene, ..." -> "p-menthane")."""
        return {c: name.split(":")[0].strip() for c, name in self.class_names.items()}


def validate_inputs(inputs: ReportInputs) -> None:
    """Fail early, naming the file, when stage outputs do not fit the file contracts."""
    problems = []
    classes = inputs.class_ids
    ensemble_ids = list(inputs.ensembles.get("ensemble_id", []))
    if classes != ensemble_ids:
        problems.append(
            "parse/labels.parquet columns differ from parse/ensembles.tsv ensemble ids "
            f"({len(classes)} vs {len(ensemble_ids)} classes)"
        )
    required = {
        "calibrated predictions": (inputs.calibrated, ["id", "split", "predictor", *classes]),
        "split/split.tsv": (inputs.split, ["id", "split", "cluster"]),
        "parse/enzymes.parquet": (inputs.enzymes, ["id", "kingdom", "label_status"]),
        "split/pairwise_identity.parquet": (inputs.identity, ["query", "target", "identity"]),
    }
    for name, (frame, columns) in required.items():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            problems.append(f"{name} lacks columns {missing}")
    if not isinstance(inputs.metrics.get("test"), dict):
        problems.append("metrics.json has no 'test' section")
    if problems:
        raise ValueError("cannot build the report: " + "; ".join(problems))


def read_benchmarks(directory: str | os.PathLike, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """Snakemake benchmark files under ``directory`` -> stage, seconds, max_rss_mb."""
    root = Path(directory)
    excluded = {Path(p).resolve() for p in exclude}
    rows = []
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        if path.resolve() in excluded:
            continue
        frame = pd.read_csv(path, sep="\t")
        if frame.empty or "s" not in frame.columns:
            continue
        # Repeated benchmarks (benchmark: repeat(...)) give several rows: report the mean.
        max_rss = pd.to_numeric(frame.get("max_rss"), errors="coerce")
        rows.append(
            {
                "stage": path.relative_to(root).with_suffix("").as_posix(),
                "seconds": float(pd.to_numeric(frame["s"], errors="coerce").mean()),
                "max_rss_mb": float(max_rss.mean()) if max_rss is not None else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["stage", "seconds", "max_rss_mb"])


def code_version(repository: str | os.PathLike) -> str:
    """``git describe`` of the workflow checkout, or the package version outside git."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=repository,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if described:
        return f"{described} (terpene_ensembles {__version__})"
    return f"terpene_ensembles {__version__} (not a git checkout)"


def generation_time() -> str:
    """UTC now, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC) if epoch else dt.datetime.now(tz=dt.UTC)
    )
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def read_optional_json(path) -> dict:
    return read_json(path) if path and Path(path).is_file() else {}


def read_optional_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t") if path and Path(path).is_file() else pd.DataFrame()


def load_inputs(
    *,
    metrics,
    enzymes,
    labels,
    ensembles,
    split,
    calibrated,
    identity,
    test_predictions=None,
    benchmarks=None,
    benchmark_exclude=(),
    config: dict | None = None,
    parse_summary=None,
    split_summary=None,
    marts=None,
    repository=None,
) -> ReportInputs:
    config = config or {}
    marts = marts or config.get("marts_csv")
    inputs = ReportInputs(
        metrics=read_json(metrics),
        enzymes=pd.read_parquet(enzymes),
        labels=pd.read_parquet(labels),
        ensembles=pd.read_csv(ensembles, sep="\t", keep_default_na=False),
        split=pd.read_csv(split, sep="\t", dtype={"id": str}),
        calibrated=pd.read_parquet(calibrated),
        identity=pd.read_parquet(identity),
        test_predictions=read_optional_tsv(test_predictions),
        benchmarks=read_benchmarks(benchmarks, benchmark_exclude) if benchmarks else pd.DataFrame(),
        config=config,
        parse_summary=read_optional_json(parse_summary),
        split_summary=read_optional_json(split_summary),
        input_path=str(marts or ""),
        input_sha256=sha256_file(marts) if marts and Path(marts).is_file() else None,
        code_version=code_version(repository) if repository else __version__,
        generated_at=generation_time(),
    )
    validate_inputs(inputs)
    return inputs


# --------------------------------------------------------------------------- helpers on data


def predictor_frame(inputs: ReportInputs, predictor: str, split: str) -> pd.DataFrame:
    """Calibrated probabilities of one predictor on one split, indexed by enzyme id."""
    frame = inputs.calibrated
    rows = frame[(frame["predictor"] == predictor) & (frame["split"] == split)]
    return rows.set_index("id")[inputs.class_ids].astype(float)


def truth_for(inputs: ReportInputs, ids: pd.Index) -> pd.DataFrame:
    labels = inputs.labels.set_index("id")[inputs.class_ids]
    return labels.reindex(ids).fillna(0).astype(int)


def predictors_in(inputs: ReportInputs) -> list[str]:
    return list(dict.fromkeys(inputs.calibrated["predictor"].astype(str)))


def per_class_path(metrics: dict, base: str, class_id: str) -> str | None:
    """Path of a class's entry under ``<base>.per_class`` (a dict by id, or a list of dicts)."""
    path = f"{base}.per_class"
    if not has_path(metrics, path):
        return None
    node = lookup(metrics, path)
    if isinstance(node, dict):
        return f"{path}.{class_id}" if class_id in node else None
    if isinstance(node, list):
        for index, entry in enumerate(node):
            if isinstance(entry, dict) and class_id in (
                entry.get("ensemble_id"),
                entry.get("id"),
                entry.get("class"),
            ):
                return f"{path}.{index}"
    return None


def first_path(tree: dict, candidates: Iterable[str]) -> str | None:
    return next((p for p in candidates if has_path(tree, p)), None)


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


# --------------------------------------------------------------------------- sections


def plm_status(metrics: dict) -> tuple[str, str]:
    """(severity, message) about the protein language model behind the numbers."""
    plm = metrics.get("plm")
    model = plm.get("model") if isinstance(plm, dict) else plm
    if (
        not plm
        or model in (None, "", "none")
        or (isinstance(plm, dict) and not plm.get("enabled", True))
    ):
        return (
            "warning",
            "No protein language model was used in this run: the predictions rest on sequence "
            "features and homology only.",
        )
    if isinstance(plm, dict) and plm.get("random_weights"):
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


def _counts_table(series: pd.Series, header: str, source: str, table_id: str) -> str:
    counts = series.value_counts(dropna=False)
    # Stable order: largest first, ties by name.
    order = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    rows = [f"<td>{esc(name)}</td>{derived_cell(int(count), source)}" for name, count in order]
    return table([header, "enzymes"], rows, table_id)


def _summary_cell(inputs: ReportInputs, key: str, candidates: Iterable[str]) -> str:
    """A parse-summary number: from metrics.json when it carries it, else from summary.json."""
    path = first_path(inputs.metrics, candidates)
    if path:
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
        cell = _summary_cell(inputs, key, (f"data.{key}", f"parse.{key}", f"parse_summary.{key}"))
        counts_rows.append(f"<th>{esc(label)}</th>{cell}")
    counts_rows.append(
        f"<th>enzymes evaluated (metrics.json)</th>{metric_cell(metrics, 'n_enzymes')}"
    )
    counts_rows.append(f"<th>ensembles (classes)</th>{metric_cell(metrics, 'n_classes')}")
    rejected_path = first_path(metrics, ("data.rejected_by_reason",))
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
            drawing = report_plots.skeleton_svg_uri(str(row.definition))
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


def metric_or_derived(metrics: dict, path: str, value, source: str) -> str:
    """metrics.json's number when it has ``path``, else the report's own count from a file."""
    if has_path(metrics, path) and is_scalar_number(lookup(metrics, path)):
        return metric_cell(metrics, path)
    return derived_cell(value, source)


def section_split(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    split = inputs.split.set_index("id")
    labels = inputs.labels.set_index("id")[inputs.class_ids]
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
    version = (metrics.get("split") or {}).get("mmseqs_version") or inputs.split_summary.get(
        "mmseqs_version"
    )
    if version:
        settings_rows.append(f"<th>MMseqs2</th><td>{esc(version)}</td>")
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
    for class_id in inputs.class_ids:
        cells = "".join(
            metric_or_derived(
                metrics,
                f"split.split.label_counts.{name}.{class_id}",
                int(labels.reindex(split.index[split["split"] == name]).fillna(0)[class_id].sum()),
                source,
            )
            for name in SPLITS
        )
        label_rows.append(f"<td>{esc(names[class_id])}</td>{cells}")
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


def metrics_table(metrics: dict) -> str:
    """Model vs baselines on the test split (every cell from metrics.json)."""
    rows_spec = []
    if has_path(metrics, "test.model"):
        rows_spec.append(("model", "test.model"))
    baselines = metrics.get("test", {}).get("baselines", {})
    ordered = [b for b in BASELINE_ORDER if b in baselines] + [
        b for b in baselines if b not in BASELINE_ORDER
    ]
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


def acceptance_table(metrics: dict, base: str, table_id: str) -> str:
    """The acceptance checks evaluate/crossval record next to the metrics."""
    if not has_path(metrics, base) or not isinstance(lookup(metrics, base), dict):
        return ""
    rows = [
        f"<th>{esc(key.replace('_', ' '))}</th>{metric_cell(metrics, f'{base}.{key}')}"
        for key, value in lookup(metrics, base).items()
        if is_scalar_number(value) or isinstance(value, bool) or value is None
    ]
    return table(["check", "value"], rows, table_id, "Acceptance checks (issue targets)")


def per_class_table(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    names = inputs.class_names
    rows = []
    for class_id in inputs.class_ids:
        path = per_class_path(metrics, "test.model", class_id)
        if path is None:
            continue
        cells = "".join(metric_cell(metrics, f"{path}.{key}") for key in PER_CLASS_FIELDS)
        knn_path = per_class_path(metrics, "test.baselines.knn_identity", class_id)
        knn_cell = (
            metric_cell(metrics, f"{knn_path}.ap")
            if knn_path
            else '<td class="num missing">n/a</td>'
        )
        rows.append(
            f"<td>{esc(names[class_id])} <code>{esc(class_id)}</code></td>{cells}{knn_cell}"
        )
    if not rows:
        return '<p class="note">metrics.json has no per-class results.</p>'
    return table(
        ["ensemble", *PER_CLASS_FIELDS.values(), "kNN AP"],
        rows,
        "per-class-table",
        "Model on the test split; threshold = calibrated per-class decision threshold",
    )


def _precision_at_1(truth: pd.DataFrame, scores: pd.DataFrame) -> float:
    labelled = truth.sum(axis=1) > 0
    if not labelled.any():
        return float("nan")
    truth_values = truth[labelled].to_numpy()
    top = scores.loc[truth.index[labelled]].to_numpy().argmax(axis=1)
    return float(truth_values[np.arange(len(top)), top].mean())


def _mean_ap(truth: pd.DataFrame, scores: pd.DataFrame) -> float:
    from sklearn.metrics import average_precision_score

    values = [
        average_precision_score(truth[c], scores[c]) for c in truth.columns if truth[c].sum() > 0
    ]
    return float(np.mean(values)) if values else float("nan")


def breakdown(inputs: ReportInputs, groups: pd.Series, label: str, table_id: str) -> str:
    """Test results per kingdom / per MARTS type, recomputed from the calibrated predictions."""
    model = predictor_frame(inputs, "model", "test")
    if model.empty:
        return '<p class="note">No test predictions of the model.</p>'
    knn = predictor_frame(inputs, "knn_identity", "test")
    truth = truth_for(inputs, model.index)
    groups = groups[groups.index.isin(model.index)]
    rows, plot_rows = [], {}
    for group in sorted(groups.dropna().unique(), key=str):
        ids = groups.index[groups == group].unique()
        group_truth = truth.loc[ids]
        labelled = int((group_truth.sum(axis=1) > 0).sum())
        values = {
            "model mAP": _mean_ap(group_truth, model.loc[ids]),
            "model P@1": _precision_at_1(group_truth, model.loc[ids]),
        }
        if not knn.empty:
            values["kNN mAP"] = _mean_ap(group_truth, knn.reindex(ids).fillna(0))
            values["kNN P@1"] = _precision_at_1(group_truth, knn.reindex(ids).fillna(0))
        source = "calibrated_predictions.parquet"
        rows.append(
            f"<td>{esc(group)}</td>{derived_cell(len(ids), source)}"
            f"{derived_cell(labelled, source)}"
            + "".join(derived_cell(v, source) for v in values.values())
        )
        plot_rows[str(group)] = values
    header = [label, "test enzymes", "labelled", *next(iter(plot_rows.values()), {}).keys()]
    plot = report_plots.grouped_bars(
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
        )
        + "</div></div>"
    )


def _ensembles_of(row: pd.Series, names: dict[str, str]) -> list[str]:
    return [names[c] for c in names if row.get(c, 0) == 1]


def called_ensembles(inputs: ReportInputs, enzyme_id: str) -> list[str] | None:
    """Calls written by evaluate in test_predictions.tsv (';'-joined ids or names)."""
    frame = inputs.test_predictions
    column = next(
        (c for c in ("called_ensembles", "called", "predicted_ensembles") if c in frame.columns),
        None,
    )
    if column is None or "id" not in frame.columns:
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
    all_truth = inputs.labels.set_index("id")[inputs.class_ids]
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


def section_results(inputs: ReportInputs) -> str:
    metrics = inputs.metrics
    model_test = predictor_frame(inputs, "model", "test")
    truth = truth_for(inputs, model_test.index)
    available = predictors_in(inputs)
    pr_scores = {
        p: predictor_frame(inputs, p, "test").reindex(model_test.index)
        for p in PR_PREDICTORS
        if p in available
    }
    pr_plot = (
        report_plots.precision_recall_grid(truth, pr_scores, inputs.short_names)
        if not truth.empty
        else None
    )
    reliability_scores = {
        p: predictor_frame(inputs, p, "test").reindex(model_test.index)
        for p in ("model", "knn_identity")
        if p in available
    }
    reliability = (
        report_plots.reliability_diagram(truth, reliability_scores) if not truth.empty else None
    )
    labels = inputs.labels.set_index("id")[inputs.class_ids]
    cooccurrence = report_plots.cooccurrence_heatmap(
        labels[labels.sum(axis=1) > 0], inputs.short_names
    )
    enzymes = inputs.enzymes.set_index("id")
    kingdoms = enzymes["kingdom"].fillna("unknown")
    types = enzymes["types"].explode() if "types" in enzymes else pd.Series(dtype=str)
    substrate_html = substrate_view(metrics)
    figures = {
        "pr": figure(
            pr_plot,
            "precision-recall curves",
            "One panel per ensemble with test positives; dotted line: prevalence.",
            "pr-curves",
        ),
        "reliability": figure(
            reliability,
            "reliability diagram",
            "Calibrated test probabilities pooled over ensembles, 10 equal-width bins; "
            "below: predictions per bin.",
            "reliability",
        ),
        "cooccurrence": figure(
            cooccurrence,
            "label co-occurrence",
            "Labelled enzymes carrying both ensembles (diagonal: carrying the ensemble).",
            "cooccurrence",
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
{figures["pr"]}
<h3>Calibration</h3>
{figures["reliability"]}
<h3>Label co-occurrence</h3>
{figures["cooccurrence"]}
<h3>Breakdown by kingdom and by type</h3>
<p class="note">Recomputed by the report from the calibrated test predictions (same definitions
as metrics.json: AP per ensemble with positives in the group; P@1 over labelled enzymes).
Small groups give noisy numbers.</p>
{breakdown(inputs, kingdoms, "kingdom", "kingdom-breakdown-table")}
{breakdown(inputs, types, "type", "type-breakdown-table")}
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
    if not (isinstance(node.get("test"), dict) and isinstance(node["test"].get("model"), dict)):
        return leaves_table(metrics, "substrate", "substrate-table")
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


def cv_table(metrics: dict) -> str:
    """Cross-validation mean and spread per predictor and metric, from metrics.json."""
    cv_path = first_path(metrics, ("cv", "crossval", "cross_validation"))
    if cv_path is None:
        return '<p class="note">metrics.json has no cross-validation summary.</p>'
    node = lookup(metrics, cv_path)
    predictors = {
        name: value
        for name, value in node.items()
        if isinstance(value, dict)
        and any(isinstance(v, dict) and "mean" in v for v in value.values())
    }
    if not predictors:
        return leaves_table(metrics, cv_path, "cv-table")
    metric_keys = []
    for value in predictors.values():
        for key, stats in value.items():
            if isinstance(stats, dict) and "mean" in stats and key not in metric_keys:
                metric_keys.append(key)
    ordered = [k for k in HEADLINE_METRICS if k in metric_keys] + [
        k for k in metric_keys if k not in HEADLINE_METRICS
    ]
    priority = ["model", "fusion", *BASELINE_ORDER]
    names = sorted(predictors, key=lambda n: (priority.index(n) if n in priority else 99, n))
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


def section_cv(inputs: ReportInputs) -> str:
    return f"""
<section id="cv"><h2>Cross-validation</h2>
<p>The same procedure (cross-fitting, stacking, calibration, thresholds), trained and scored
on k grouped outer folds (whole MMseqs2 clusters per fold).</p>
{cv_table(inputs.metrics)}
<h3>Ablations</h3>
{ablation_table(inputs.metrics)}
</section>"""


CSS = """
:root { --ink: #1d232b; --muted: #5b6470; --line: #d6dbe1; --ours: #e8f0fb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", Helvetica, Arial, sans-serif; color: var(--ink);
       max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { border-bottom: 2px solid var(--ink); padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 12.5px; }
caption { text-align: left; color: var(--muted); font-size: 12px; padding-bottom: 0.2rem; }
th, td { border: 1px solid var(--line); padding: 0.2rem 0.45rem; vertical-align: top;
         text-align: left; }
thead th { background: #f2f4f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.missing { color: var(--muted); }
th.ours, tr:has(th.ours) td { background: var(--ours); font-weight: 600; }
.cols { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
figure { margin: 0.8rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption, .note { color: var(--muted); font-size: 12px; }
img.skeleton { width: 150px; height: auto; }
.examples { max-width: 22rem; font-size: 11.5px; }
.rule { font-size: 11.5px; color: var(--muted); }
.banner { padding: 0.8rem 1rem; border-radius: 4px; margin: 1rem 0; font-weight: 600; }
.banner.danger { background: #fde2e0; border: 3px solid #b3261e; color: #7a1610;
                 font-size: 1.1rem; }
.banner.warning { background: #fff4d6; border: 2px solid #a86d00; color: #5c3b00; }
.banner.ok { background: #e6f4ea; border: 1px solid #2e7d32; color: #1b4d1f; font-weight: 400; }
.bad { color: #b3261e; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 12px; }
ul { margin: 0; padding-left: 1rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav, details > summary::marker { display: none; }
  details { display: block; }
  section { break-before: page; }
  section#run { break-before: auto; }
  table, figure, tr { break-inside: avoid; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
"""


def build_report(inputs: ReportInputs) -> str:
    """The whole page as one HTML string."""
    severity, message = plm_status(inputs.metrics)
    title = "Terpene synthase functional-ensemble prediction: report"
    # Main headline: the model's test mAP and macro-F1 next to the kNN baseline's.
    headline = (
        "<p class='headline'>Test mAP "
        f"{metric_cell(inputs.metrics, 'test.model.map', 'strong')} (identity kNN "
        f"{metric_cell(inputs.metrics, 'test.baselines.knn_identity.map', 'span')}); macro-F1 "
        f"{metric_cell(inputs.metrics, 'test.model.macro_f1', 'strong')} (identity kNN "
        f"{metric_cell(inputs.metrics, 'test.baselines.knn_identity.macro_f1', 'span')}).</p>"
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
    body = "".join(
        section(inputs)
        for section in (section_run, section_data, section_split, section_results, section_cv)
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{esc(title)}</h1>
<p class="note">Generated {esc(inputs.generated_at)} &middot; {esc(inputs.code_version)}</p>
<div class="banner {severity}" id="plm-banner" role="{role}">{esc(message)}</div>
{headline}
<nav>{nav}</nav>
</header>
<main>{body}</main>
</body>
</html>
"""


FIGURE_PATTERN = re.compile(
    r'<figure id="([A-Za-z0-9_-]+)"><img src="data:image/png;base64,([^"]+)"'
)


def extract_figures(page: str) -> dict[str, bytes]:
    """The page's named PNG figures (figure id -> PNG bytes), for `snakemake --report`."""
    return {name: base64.b64decode(data) for name, data in FIGURE_PATTERN.findall(page)}
