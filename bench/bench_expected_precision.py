"""Which expected top-call precision predicts best whether a held-out top call is right:
the bands' measured precision, or the same made non-decreasing in identity.

Grouped CV only, so the test split plays no part: for every outer CV fold of a finished run
(``results/cv/fold*/metrics.json``, ``reliability_outcomes`` of the model), the band table is
estimated (``reliability.band_table``) from the development enzymes of the OTHER folds, and
each development enzyme of the fold is given its band's value, either the measured
``top_precision`` or the monotone ``expected_top_precision``
(``reliability.monotone_in_identity``). Reported per estimate: the Brier score and log loss of
that value against whether the enzyme's top call was right (lower is better), and the
per-band honesty (``reliability.honesty``: observed minus mean expected), and the Brier score
fold by fold. A constant (the
overall top-call precision) is the floor to beat.

    .venv/bin/python bench/bench_expected_precision.py --results results \\
        --output bench/results/expected_precision_cv.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

ESTIMATES = ("constant", "top_precision", "expected_top_precision")


def cv_outcomes(results: Path):
    """The model's grouped outcomes of the development enzymes, with their outer fold."""
    import pandas as pd

    from terpene_ensembles.learning.reliability import GROUPED, OUTCOME_COLUMNS

    split = pd.read_csv(results / "split" / "split.tsv", sep="\t", dtype={"id": str})
    development = set(split.loc[split["split"] != "test", "id"])
    rows = []
    for path in sorted((results / "cv").glob("fold*/metrics.json")):
        fold = json.loads(path.read_text())
        number = int(path.parent.name.removeprefix("fold"))
        rows += [
            {**record, "procedure": GROUPED, "fold": number}
            for record in fold["reliability_outcomes"]["model"]
        ]
    frame = pd.DataFrame(rows, columns=[*OUTCOME_COLUMNS, "fold"])
    return frame[frame["id"].isin(development)].reset_index(drop=True)


def leave_fold_out(outcomes):
    """Per enzyme, each estimate from a table of the other folds."""
    import numpy as np

    from terpene_ensembles.learning.reliability import band_table, identity_band

    values = {name: np.full(len(outcomes), np.nan) for name in ESTIMATES}
    for fold in sorted(outcomes["fold"].unique()):
        inside = (outcomes["fold"] == fold).to_numpy()
        rest = outcomes[~inside]
        table = {row["band"]: row for row in band_table(rest)}
        bands = [identity_band(v) for v in outcomes.loc[inside, "best_identity"]]
        values["constant"][inside] = rest["top_correct"].mean()
        for name in ESTIMATES[1:]:
            values[name][inside] = [
                np.nan if table[b][name] is None else table[b][name] for b in bands
            ]
    return values


def scores(outcomes, values) -> dict:
    import numpy as np

    from terpene_ensembles.learning.reliability import honesty

    right = outcomes["top_correct"].astype(float).to_numpy()
    report = {}
    for name, expected in values.items():
        usable = np.isfinite(expected)
        p = np.clip(expected[usable], 1e-3, 1 - 1e-3)
        y = right[usable]
        check = honesty(outcomes, expected)
        by_fold = [
            round(float(np.mean((expected[inside] - right[inside]) ** 2)), 6)
            for inside in (
                (outcomes["fold"] == fold).to_numpy() & usable
                for fold in sorted(outcomes["fold"].unique())
            )
        ]
        report[name] = {
            "n": int(usable.sum()),
            "brier": round(float(np.mean((expected[usable] - y) ** 2)), 6),
            "brier_by_fold": by_fold,
            "brier_fold_mean": round(float(np.mean(by_fold)), 6),
            "log_loss": round(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), 6),
            "honesty": {
                row["band"]: {k: row[k] for k in ("n", "difference", "within_tolerance")}
                for row in check["bands"]
            },
            "honesty_passed": check["passed"],
        }
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    outcomes = cv_outcomes(args.results)
    report = {
        "results": str(args.results),
        "folds": sorted(int(f) for f in outcomes["fold"].unique()),
        "development_enzymes": len(outcomes),
        "estimates": scores(outcomes, leave_fold_out(outcomes)),
    }
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
