"""docs/results.md is what workflow/scripts/docs_results.py writes from a run's files.

docs/results.json is the digest of the run the page was generated from (the numbers the
page shows, taken from its metrics.json and cv/summary.json). The page must equal the
generator's rendering of that digest, the digest must be a `make run` of the demo data, and
when a finished `make run` is in results/ the digest must be that run's.
"""

from __future__ import annotations

import copy
import csv
import json

import docs_results
import pytest
import yaml
from conftest import DEMO_MARTS, REPO

DOCS = REPO / "docs"
RUN = REPO / "results"
ABLATION_KEYS = [key for key, _ in docs_results.ABLATION_COLUMNS]


def synthetic_run() -> tuple[dict, dict]:
    """A small metrics.json / cv/summary.json pair in the layout the stages write."""

    def scores(base: float) -> dict:
        return {
            "map": base, "precision_at_1": base + 0.01, "macro_f1": base - 0.1,
            "micro_f1": base - 0.05, "calls_per_enzyme": 2.0, "decision_efficiency": 0.5,
            "ece_called": 0.08, "true_per_enzyme": 1.6, "recall_at_3": 0.9,
            "per_class": {"pinane": {"ap": 0.4}},
        }  # fmt: skip

    def stats(base: float) -> dict:
        return {
            key: {"mean": value, "std": 0.02, "values": [value] * 3}
            for key, value in scores(base).items()
            if key != "per_class"
        }

    cv = {
        "n_folds": 3,
        "model": stats(0.357),
        "knn_identity": stats(0.231),
        "logistic_regression": stats(0.255),
        "per_class": {"pinane": {"folds_with_positives": 2, "ap": 0.6, "f1": 0.3}},
        "ablations": {
            "only:positions": {k: {"mean": 0.3, "std": 0.1} for k in ABLATION_KEYS},
            "model": {k: {"mean": 0.357, "std": 0.1} for k in ABLATION_KEYS},
        },
        "acceptance": {
            "macro_f1": 0.242, "classes_ap_at_least_0_5_never_called": [], "passed": False,
        },
        "folds": [{"fold": 0}],
    }  # fmt: skip
    metrics = {
        "plm": {"model": "esm2_t6_8M_UR50D", "random_weights": True, "enabled": True, "x": 1},
        "n_enzymes": 991,
        "n_classes": 32,
        "data": {
            "rows_in": 1903,
            "rows_used": 1900,
            "rows_rejected": 3,
            "enzymes": 991,
            "enzymes_by_label_status": {"inactive": 9, "labelled": 982},
            "label_coverage": 1.0,
            "input": "resources/demo/marts_db.csv",
        },  # fmt: skip
        "split": {
            "clustering": {"n_clusters": 136, "singletons": 40},
            "split": {
                "enzymes": {"train": 800, "val": 81, "test": 110},
                "clusters": {"train": 100, "val": 14, "test": 22},
                "label_counts": {},
            },
        },
        "test": {
            "model": scores(0.352),
            "baselines": {"knn_identity": scores(0.255), "random": scores(0.073)},
            "components": {"positions": scores(0.3)},
        },
        "acceptance": {"map_minus_best_baseline": 0.053, "passed": True},
        "substrate": {
            "method": "text",
            "test": {"model": {"map": 0.742}, "baselines": {"knn_identity": {"map": 0.663}}},
        },
        "cv": cv,
    }
    return metrics, copy.deepcopy(cv)


def write_run(root, metrics, cv):
    (root / "report").mkdir(parents=True)
    (root / "cv").mkdir()
    (root / "report" / "metrics.json").write_text(json.dumps(metrics))
    (root / "cv" / "summary.json").write_text(json.dumps(cv))
    return root


def rows(page: str, first_cell: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in page.splitlines()
        if line.startswith(f"| {first_cell} |")
    ]


def test_every_table_cell_is_the_runs_number():
    metrics, cv = synthetic_run()
    page = docs_results.render(docs_results.digest(metrics, cv))
    model_test, model_cv = rows(page, "model")[:2]
    assert model_test[1:] == [
        docs_results.number(metrics["test"]["model"][key]) for key, _ in docs_results.TEST_COLUMNS
    ]
    assert model_test[1:3] == ["0.352", "0.362"]
    assert model_cv[1] == "0.357 ± 0.020"
    assert rows(page, "random")[0][1] == "0.073"
    assert rows(page, "positions")[0][1] == "0.300"  # components are listed too
    assert rows(page, "`only:positions`")[0][1:] == ["0.300"] * 5
    assert rows(page, "rows in the export") == [["rows in the export", "1,903"]]
    assert rows(page, "`test` split: enzymes / clusters") == [
        ["`test` split: enzymes / clusters", "110 / 22"]
    ]
    assert rows(page, "`classes_ap_at_least_0_5_never_called`")[0][1] == "none"
    assert "Test split, passed: **yes**" in page and "Cross-validation, passed: **no**" in page
    assert rows(page, "knn_identity")[-1] == ["knn_identity", "0.663"]  # substrate level
    assert "## Cross-validation (3 grouped folds)" in page
    assert "`esm2_t6_8M_UR50D` with random weights" in page
    # the ablation table starts with the full model
    ablation_header = page.index("| variant (CV mean)")
    assert page[ablation_header:].split("\n")[2].startswith("| `model` |")


def test_the_digest_keeps_only_what_the_page_shows_and_renders_the_same():
    metrics, cv = synthetic_run()
    recorded = docs_results.digest(metrics, cv)
    assert "x" not in recorded["plm"] and "input" not in recorded["data"]
    assert "per_class" not in recorded["test"]["model"] and "folds" not in recorded["cv"]
    assert docs_results.render(recorded) == docs_results.render(metrics)
    assert json.loads(docs_results.dump(recorded)) == recorded


def test_a_stale_or_incomplete_run_is_refused(tmp_path):
    metrics, cv = synthetic_run()
    stale = copy.deepcopy(cv)
    stale["model"]["map"]["mean"] = 0.1
    with pytest.raises(docs_results.ResultsError, match="forcerun evaluate"):
        docs_results.digest(metrics, stale)
    del metrics["test"]["baselines"]
    with pytest.raises(docs_results.ResultsError, match="baselines"):
        docs_results.digest(metrics, cv)
    assert docs_results.main([str(tmp_path), "--docs", str(tmp_path)]) == 2


def test_the_command_writes_and_checks_both_files(tmp_path, capsys):
    run = write_run(tmp_path / "results", *synthetic_run())
    docs = tmp_path / "docs"
    docs.mkdir()
    assert docs_results.main([str(run), "--docs", str(docs), "--check"]) == 1
    assert docs_results.main([str(run), "--docs", str(docs)]) == 0
    assert docs_results.main([str(run), "--docs", str(docs), "--check"]) == 0
    recorded = json.loads((docs / "results.json").read_text())
    assert (docs / "results.md").read_text() == docs_results.render(recorded)
    (docs / "results.md").write_text("edited by hand\n")
    assert docs_results.main([str(run), "--docs", str(docs), "--check"]) == 1
    assert "results.md differs" in capsys.readouterr().err


def test_docs_results_page_is_the_generators_rendering_of_its_run():
    recorded = json.loads((DOCS / "results.json").read_text())
    assert (DOCS / "results.md").read_text() == docs_results.render(recorded), (
        f"docs/results.md was edited or is stale: regenerate with `{docs_results.COMMAND}`"
    )
    assert docs_results.dump(recorded) == (DOCS / "results.json").read_text()


def test_docs_results_come_from_a_make_run_of_the_demo_data():
    """The recorded run used make run's configuration: the demo export, its PLM, its folds."""
    recorded = json.loads((DOCS / "results.json").read_text())
    offline = yaml.safe_load((REPO / "config" / "offline.yaml").read_text())
    assert recorded["plm"]["model"] == offline["plm"]["model"]
    assert recorded["plm"]["random_weights"] is True
    with open(DEMO_MARTS, newline="", encoding="utf-8-sig") as handle:
        rows_in = sum(1 for _ in csv.DictReader(handle))
    data = recorded["data"]
    assert data["rows_in"] == rows_in == data["rows_used"] + data["rows_rejected"]
    defaults = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert (
        recorded["cv"]["n_folds"]
        == defaults["properties"]["split"]["properties"]["cv_folds"]["default"]
    )


def _finished_make_run() -> bool:
    metrics = RUN / "report" / "metrics.json"
    if not (metrics.is_file() and (RUN / "cv" / "summary.json").is_file()):
        return False
    data = json.loads(metrics.read_text()).get("data", {})
    return str(data.get("input", "")).endswith("resources/demo/marts_db.csv")


# Only where a finished `make run` of the demo data sits in results/ (a developer's checkout
# after `make run`; CI runs the minimal configuration and removes it): there the page must be
# that run's. Elsewhere the recorded digest above is what is checked.
if _finished_make_run():

    def test_docs_results_are_the_finished_run_in_results():
        assert docs_results.main([str(RUN), "--docs", str(DOCS), "--check"]) == 0, (
            f"docs/results.* differ from results/: regenerate with `{docs_results.COMMAND}`"
        )
