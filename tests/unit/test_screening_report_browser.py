"""The screening report opened offline in headless Chromium (as the training report is):
no console errors, nothing loaded from outside, every marked number equal to summary.json,
and the candidates table sorts when a header is clicked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_report_browser import (
    console_errors,
    page_state_after_load,
    requested_urls,
    require_chromium,
)

from terpene_ensembles.predict.screening_report import summary_numbers, write_screening_report

pytestmark = pytest.mark.browser

PAGE_STATE = """
(() => {
  const marked = {};
  document.querySelectorAll("[data-summary]").forEach(e => {
    marked[e.dataset.summary] = e.textContent.trim();
  });
  const column = i => [...document.querySelectorAll("#candidates tbody tr")]
    .map(tr => tr.cells[i].textContent.trim());
  const before = column(1);
  const header = document.querySelector("#candidates thead th:nth-child(5)");
  header.click();
  const ascending = column(4);
  header.click();
  const descending = column(4);
  return {
    sections: [...document.querySelectorAll("section[id]")].map(s => s.id),
    marked: marked, before: before, ascending: ascending, descending: descending,
    svgs: document.querySelectorAll("svg").length,
    banner: (document.querySelector("#plm-banner") || {}).textContent || "",
  };
})()
"""


def write_run(outdir, rows: int = 25) -> dict:
    from terpene_ensembles.io_utils import write_json
    from terpene_ensembles.learning.reliability import identity_band
    from terpene_ensembles.predict.output import PredictionWriter

    rng = np.random.default_rng(0)
    ensembles = ["pinane", "bornane", "kaurane", "germacrane"]
    frames = []
    for i in range(rows):
        p = rng.dirichlet(np.ones(len(ensembles)))
        order = np.argsort(-p)
        best = float(rng.uniform(0.2, 1.0))
        frames.append(
            {
                "id": f"prot_{i}",
                "record": 3 * i + 1,
                "sequence_sha256": f"{i:064x}",
                "length": int(rng.integers(250, 900)),
                "called": [ensembles[order[0]]],
                "top3": [ensembles[j] for j in order[:3]],
                "top3_probability": [float(p[j]) for j in order[:3]],
                "nearest_training": ["t1", "t2"],
                "nearest_identity": [best, best / 2],
                "best_identity": best,
                "support": ["identity_kernel,positions" if i % 3 else "none"],
                "nearest_training_name": "pinene synthase",
                "nearest_training_ensembles": ["pinane", "pinane,bornane"],
                "identity_band": identity_band(best),
                "expected_top_precision": 0.2 + 0.6 * best,
                "tps_domains": ["PF01397"],
                "out_of_domain": best < 0.3,
                "ood_reason": "no_training_enzyme_above_identity_floor" if best < 0.3 else "",
                **{f"prob_{e}": float(p[j]) for j, e in enumerate(ensembles)},
            }
        )
    frame = pd.DataFrame(frames)
    with PredictionWriter(outdir, ensembles) as writer:
        writer.write(frame)
    summary = {
        "input": "genome.faa.gz",
        "input_format": "fasta",
        "records_in": 3 * rows + 7,
        "tps_candidates": rows,
        "predicted": rows,
        "not_tps": 2 * rows + 4,
        "rejected": 3,
        "rejected_by_reason": {"duplicate_id": 2, "nucleotide_sequence": 1},
        "out_of_domain": int(frame["out_of_domain"].sum()),
        "plm": {"model": "esm2_t6_8M_UR50D", "random_weights": True},
        "prefilter": "tps_domain",
        "shards": [{"shard": "1-of-2"}, {"shard": "2-of-2"}],
        "seconds": 12.5,
        "peak_rss_mib": 800.0,
        "message": "",
    }
    write_json(summary, outdir / "summary.json")
    return summary


def test_screening_report_renders_offline_with_the_summary_numbers(tmp_path):
    chromium = require_chromium()
    outdir = tmp_path / "genome1"
    summary = write_run(outdir)
    page = write_screening_report(outdir)
    state, browser = page_state_after_load(chromium, page, tmp_path, PAGE_STATE)
    errors = console_errors(browser)
    assert errors == []
    requested = requested_urls(browser)
    assert all(url.startswith(("file:", "data:")) for url in requested), requested

    expected = summary_numbers(json.loads((outdir / "summary.json").read_text()))
    assert {k: int(v) for k, v in state["marked"].items()} == expected
    assert {"records_in", "tps_candidates", "predicted", "out_of_domain", "not_tps"} <= set(
        state["marked"]
    )
    assert state["sections"] == [
        "counts", "ensembles", "probabilities", "out-of-domain", "candidates-section", "run",
    ]  # fmt: skip
    assert state["svgs"] == 3
    assert "RANDOM weights" in state["banner"]
    assert state["before"] == [f"prot_{i}" for i in range(25)]  # input order
    ascending = [float(v) for v in state["ascending"]]
    assert ascending == sorted(ascending)
    assert [float(v) for v in state["descending"]] == sorted(ascending, reverse=True)
    assert summary["records_in"] == summary["predicted"] + summary["not_tps"] + summary["rejected"]
