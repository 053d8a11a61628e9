"""Reliability by homology band: how often a call is right at a given identity to the
characterised training enzymes.

Accuracy depends above all on the identity of a query to its nearest training enzyme, so
the enzymes are put in bands of that best identity (:data:`IDENTITY_BANDS`) and each band
gets the top-call precision (with a Wilson interval), the precision and recall of all calls,
and the number of enzymes behind them.

What a prediction is told to expect (``expected_top_precision``) is the bands' top-call
precision made non-decreasing in identity (:func:`monotone_in_identity`: a weighted isotonic
fit over the bands, each weighted by its enzymes). Measured band by band, a few families
can make a band look worse than the one below it (on the demo data 50-70% once fell under
40-50%); no biologist should be told a closer homolog means a less reliable call, and on
the grouped CV folds, each judged by a table estimated without it, the monotone estimate
predicted whether a top call was right better than the raw bands did
(docs/experiments.md, "Expected precision by band: monotone in identity").

Two procedures supply the per-enzyme outcomes (:func:`enzyme_outcomes`):

- ``grouped_folds``: the development enzymes' predictions in the test folds of the grouped
  outer CV (each enzyme once; without CV, the final model's out-of-fold predictions over
  the grouped inner folds). Whole MMseqs2 clusters are held
  out, which is what a new family looks like, but it leaves the high-identity bands nearly
  empty (a close homolog is always in the same cluster).
- ``random_folds``: the development enzymes scored over random (non-grouped) folds, so
  close homologs sit in training: the kernel-dominated regime of a query with a
  characterised near-twin.

:func:`band_table` fills each band from ``grouped_folds`` when it has at least
:data:`MIN_BAND_ENZYMES` labelled enzymes there (or no fewer than ``random_folds``), else
from ``random_folds``; the row says which. It is the one function behind the table in
metrics.json, the model bundle, the reports and every prediction's
``expected_top_precision``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

# (label, lower bound inclusive, upper bound exclusive) of best identity (a fraction).
IDENTITY_BANDS = (
    ("<30%", 0.0, 0.30),
    ("30-40%", 0.30, 0.40),
    ("40-50%", 0.40, 0.50),
    ("50-70%", 0.50, 0.70),
    ("70-90%", 0.70, 0.90),
    (">=90%", 0.90, math.inf),
)
BAND_LABELS = tuple(label for label, _, _ in IDENTITY_BANDS)
GROUPED = "grouped_folds"
RANDOM = "random_folds"
PROCEDURES = {
    GROUPED: "predictions of the development enzymes in the test folds of the grouped outer "
    "CV (folds of whole MMseqs2 clusters): new families",
    RANDOM: "out-of-fold predictions of the development enzymes over random folds, so close "
    "homologs are in training: queries with a characterised near-twin",
}
# A band is estimated from the grouped folds when they hold at least this many labelled
# enzymes in it; below that the Wilson interval is wider than +-0.2 and random folds fill it.
MIN_BAND_ENZYMES = 20
# Honesty check: in a band with at least MIN_BAND_ENZYMES held-out enzymes the observed
# top-call precision must lie within this of the mean expected_top_precision.
HONESTY_TOLERANCE = 0.15
WILSON_Z = 1.959964  # 95%
OUTCOME_COLUMNS = (
    "id",
    "procedure",
    "best_identity",
    "top_correct",
    "n_called",
    "n_hits",
    "n_true",
)


def _round(value) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), 6)


def identity_band(best_identity: float) -> str:
    """The band of a best identity (a fraction); no hit at all (NaN) is the lowest band."""
    if not best_identity >= 0:  # NaN: no training enzyme found
        return BAND_LABELS[0]
    for label, low, high in IDENTITY_BANDS:
        if low <= best_identity < high:
            return label
    return BAND_LABELS[-1]


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ((nan, nan) when n is 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def enzyme_outcomes(
    ids: Iterable[str],
    best_identity: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    calls: np.ndarray,
    procedure: str,
) -> pd.DataFrame:
    """One row per labelled enzyme (OUTCOME_COLUMNS): whether its top-scored ensemble is
    true, how many ensembles were called, how many of them are true, how many are true."""
    y_true = np.asarray(y_true).astype(bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    calls = np.asarray(calls).astype(bool)
    top = np.argmax(probabilities, axis=1)  # ties: vocabulary order, like the top call
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in ids],
            "procedure": procedure,
            "best_identity": np.asarray(best_identity, dtype=np.float64),
            "top_correct": y_true[np.arange(len(top)), top],
            "n_called": calls.sum(axis=1),
            "n_hits": (calls & y_true).sum(axis=1),
            "n_true": y_true.sum(axis=1),
        }
    )
    return frame[frame["n_true"] > 0].reset_index(drop=True)


def predictor_outcomes(
    rows: pd.DataFrame,
    predictor: str,
    best_identity: dict[str, float],
    truth: pd.DataFrame,
    thresholds: dict,
    ensemble_ids: list[str],
    procedure: str,
) -> pd.DataFrame:
    """:func:`enzyme_outcomes` of ``predictor``'s rows of a long table of calibrated
    probabilities (id, predictor, one column per class), called at its thresholds
    (thresholds.json layout); ``truth``: labels indexed by id."""
    from terpene_ensembles.learning.calibration import calls_from_thresholds

    mine = rows[rows["predictor"] == predictor]
    probabilities = mine[ensemble_ids].to_numpy(np.float64)
    ids = mine["id"].astype(str).tolist()
    return enzyme_outcomes(
        ids,
        np.array([best_identity[i] for i in ids], dtype=np.float64),
        truth.loc[ids, ensemble_ids].to_numpy(),
        probabilities,
        calls_from_thresholds(thresholds, predictor, probabilities, ensemble_ids),
        procedure,
    )


def with_bands(outcomes: pd.DataFrame) -> pd.DataFrame:
    out = outcomes.copy()
    out["band"] = [identity_band(v) for v in out["best_identity"]]
    return out


def band_statistics(rows: pd.DataFrame) -> dict:
    n = len(rows)
    correct = int(rows["top_correct"].sum())
    low, high = wilson_interval(correct, n)
    called, hits, true = (int(rows[c].sum()) for c in ("n_called", "n_hits", "n_true"))
    return {
        "n": n,
        "top_precision": _round(correct / n) if n else None,
        "top_precision_low": _round(low),
        "top_precision_high": _round(high),
        "call_precision": _round(hits / called) if called else None,
        "call_recall": _round(hits / true) if true else None,
    }


def band_procedures(outcomes: pd.DataFrame, min_enzymes: int = MIN_BAND_ENZYMES) -> dict:
    """Band -> the procedure that fills it (grouped folds when they have enough enzymes)."""
    banded = with_bands(outcomes)
    grouped = banded[banded["procedure"] == GROUPED]["band"].value_counts()
    random = banded[banded["procedure"] == RANDOM]["band"].value_counts()

    def procedure(band):
        n = grouped.get(band, 0)
        return GROUPED if n >= min_enzymes or n >= random.get(band, 0) else RANDOM

    return {band: procedure(band) for band in BAND_LABELS}


def monotone_in_identity(rows: list[dict]) -> list[float | None]:
    """The bands' ``top_precision`` made non-decreasing from the lowest band to the highest
    (scikit-learn's weighted isotonic regression, each band weighted by its ``n``); a band
    without an estimate stays None. Adjacent bands out of order are pooled into their
    enzyme-weighted mean, so a band keeps its own value wherever the order holds."""
    from sklearn.isotonic import IsotonicRegression

    estimated = [i for i, row in enumerate(rows) if row["top_precision"] is not None]
    monotone: list[float | None] = [None] * len(rows)
    if not estimated:
        return monotone
    values = IsotonicRegression(increasing=True).fit_transform(
        np.array(estimated, dtype=np.float64),
        np.array([rows[i]["top_precision"] for i in estimated], dtype=np.float64),
        sample_weight=np.array([rows[i]["n"] for i in estimated], dtype=np.float64),
    )
    for i, value in zip(estimated, values, strict=True):
        monotone[i] = _round(value)
    return monotone


def with_expected(rows: list[dict]) -> list[dict]:
    """Band rows with ``expected_top_precision`` (:func:`monotone_in_identity`) added."""
    return [
        {**row, "expected_top_precision": value}
        for row, value in zip(rows, monotone_in_identity(rows), strict=True)
    ]


def band_table(
    outcomes: pd.DataFrame,
    procedures: dict[str, str] | None = None,
    min_enzymes: int = MIN_BAND_ENZYMES,
) -> list[dict]:
    """The reliability rows of one predictor, one per band in IDENTITY_BANDS order, each
    with the ``expected_top_precision`` predictions are given (:func:`with_expected`).

    ``outcomes``: :func:`enzyme_outcomes` rows of both procedures; ``procedures``: which
    procedure fills each band (default :func:`band_procedures` of these very outcomes;
    pass the model's so a baseline is read off the same enzymes)."""
    banded = with_bands(outcomes)
    procedures = procedures or band_procedures(outcomes, min_enzymes)
    rows = []
    for label, low, high in IDENTITY_BANDS:
        procedure = procedures[label]
        inside = banded[(banded["band"] == label) & (banded["procedure"] == procedure)]
        rows.append(
            {
                "band": label,
                "low": low,
                "high": None if math.isinf(high) else high,
                "procedure": procedure,
                **band_statistics(inside),
            }
        )
    return with_expected(rows)


def reliability_tables(outcomes_by_predictor: dict[str, pd.DataFrame], model: str) -> dict:
    """``{"bands", "procedures", "min_enzymes", "predictors": {name: band_table}}`` with the
    bands filled as the ``model``'s outcomes decide."""
    procedures = band_procedures(outcomes_by_predictor[model])
    return {
        "bands": [
            {"band": label, "low": low, "high": None if math.isinf(high) else high}
            for label, low, high in IDENTITY_BANDS
        ],
        "procedures": dict(PROCEDURES),
        "min_enzymes": MIN_BAND_ENZYMES,
        "predictors": {
            name: band_table(outcomes, procedures)
            for name, outcomes in outcomes_by_predictor.items()
        },
    }


def expected_top_precision(table: list[dict] | None, best_identity: float) -> float:
    """The band's ``expected_top_precision`` (:func:`with_expected`; nan without a table or
    an estimate for the band)."""
    if not table:
        return float("nan")
    band = identity_band(best_identity)
    for row in table:
        if row["band"] == band:
            value = row["expected_top_precision"]
            return float(value) if value is not None else float("nan")
    return float("nan")


def honesty(
    outcomes: pd.DataFrame,
    expected: np.ndarray,
    tolerance: float = HONESTY_TOLERANCE,
    min_enzymes: int = MIN_BAND_ENZYMES,
) -> dict:
    """Observed top-call precision of held-out ``outcomes`` against the mean
    ``expected`` (their expected_top_precision, aligned), per band; checked in the bands
    with at least ``min_enzymes`` enzymes."""
    banded = with_bands(outcomes)
    banded["expected"] = np.asarray(expected, dtype=np.float64)
    rows = []
    for label in BAND_LABELS:
        inside = banded[banded["band"] == label]
        n = len(inside)
        observed = float(inside["top_correct"].mean()) if n else float("nan")
        mean_expected = float(inside["expected"].mean()) if n else float("nan")
        difference = observed - mean_expected
        checked = n >= min_enzymes
        rows.append(
            {
                "band": label,
                "n": n,
                "observed_top_precision": _round(observed),
                "mean_expected_top_precision": _round(mean_expected),
                "difference": _round(difference),
                "checked": checked,
                "within_tolerance": bool(abs(difference) <= tolerance) if checked else None,
            }
        )
    checked = [r for r in rows if r["checked"]]
    return {
        "tolerance": tolerance,
        "min_enzymes": min_enzymes,
        "bands": rows,
        "n_bands_checked": len(checked),
        "passed": all(r["within_tolerance"] for r in checked),
    }


def leave_fold_out_expected(
    estimate: pd.DataFrame, held_out: pd.DataFrame, fold_of: dict[str, int]
) -> np.ndarray:
    """expected_top_precision of each ``held_out`` row from a table estimated without the
    enzymes of its CV fold (``fold_of``: id -> fold), so no enzyme judges itself."""
    expected = np.full(len(held_out), np.nan)
    folds = np.array([fold_of[i] for i in held_out["id"]])
    for fold in np.unique(folds):
        inside = folds == fold
        table = band_table(estimate[~estimate["id"].isin(set(held_out["id"][inside]))])
        expected[inside] = [
            expected_top_precision(table, v) for v in held_out["best_identity"][inside]
        ]
    return expected


TEST = "test"


def reliability_section(
    calibrated: pd.DataFrame,
    thresholds: dict,
    truth: pd.DataFrame,
    ensemble_ids: list[str],
    best_identity: pd.DataFrame,
    random_rows: pd.DataFrame,
    cv_folds: list[dict],
    model: str,
    homology_baseline: str | None,
) -> dict:
    """The reliability table of ``model`` and ``homology_baseline`` and its honesty check.

    ``calibrated``: calibrate's long table (OOF and test rows); ``best_identity``: id, split,
    best_identity of those rows (train stage); ``random_rows``: the train stage's
    random-fold predictions (raw scores + best_identity), calibrated here as the OOF rows
    were; ``cv_folds``: the outer CV fold results (``fold``, ``reliability_outcomes``).

    The table is estimated from development enzymes only (test-split enzymes are left out of
    the CV rows too), so the test split checks it on enzymes it never saw; the CV folds check
    it fold by fold against a table estimated without that fold's enzymes.
    """
    from terpene_ensembles.learning.calibration import Thresholds
    from terpene_ensembles.learning.training_data import OOF_SPLIT

    identity = {
        split: dict(zip(group["id"].astype(str), group["best_identity"], strict=True))
        for split, group in best_identity.groupby("split")
    }
    dev_ids = set(identity[OOF_SPLIT])
    calibrator = Thresholds.from_dict(thresholds)
    random_rows = random_rows.copy()
    random_identity = dict(
        zip(random_rows["id"].astype(str), random_rows["best_identity"], strict=False)
    )
    for predictor in random_rows["predictor"].unique():
        mine = random_rows["predictor"] == predictor
        random_rows.loc[mine, ensemble_ids] = calibrator.calibrate(
            predictor, random_rows.loc[mine, ensemble_ids].to_numpy(np.float64), ensemble_ids
        )
    names = [model, *([homology_baseline] if homology_baseline else [])]
    estimates, cv_rows, test_rows = {}, {}, {}
    for name in names:

        def outcomes(rows, split_identity, procedure, name=name):
            return predictor_outcomes(
                rows, name, split_identity, truth, thresholds, ensemble_ids, procedure
            )

        cv = pd.DataFrame(
            [
                {**record, "fold": fold["fold"], "procedure": GROUPED}
                for fold in cv_folds
                for record in fold["reliability_outcomes"].get(name, [])
            ],
            columns=[*OUTCOME_COLUMNS, "fold"],
        )
        cv_rows[name] = cv
        # Each development enzyme counts once among the grouped outcomes: its outer CV test
        # row, which no choice of its fold's model saw (members, combiner, thresholds); the
        # final model's inner OOF rows only without CV, as their thresholds were fitted on
        # them.
        dev_cv = cv[cv["id"].isin(dev_ids)][list(OUTCOME_COLUMNS)]
        grouped = (
            dev_cv
            if len(dev_cv)
            else outcomes(
                calibrated[calibrated["split"] == OOF_SPLIT], identity[OOF_SPLIT], GROUPED
            )
        )
        estimates[name] = pd.concat(
            [grouped, outcomes(random_rows, random_identity, RANDOM)], ignore_index=True
        )
        test_rows[name] = outcomes(calibrated[calibrated["split"] == TEST], identity[TEST], TEST)
    section = reliability_tables(estimates, model)
    table = section["predictors"][model]
    test = test_rows[model]
    cv = cv_rows[model]
    section["model"] = model
    section["homology_baseline"] = homology_baseline
    n_cv = int(cv["id"].isin(dev_ids).sum())
    section["n_outcomes"] = {
        "grouped_inner_folds": 0 if n_cv else int((estimates[model]["procedure"] == GROUPED).sum()),
        "grouped_cv_folds": n_cv,
        "random_folds": int((estimates[model]["procedure"] == RANDOM).sum()),
    }
    section["honesty"] = {
        "test": honesty(test, [expected_top_precision(table, v) for v in test["best_identity"]]),
        "cv_folds": honesty(
            cv,
            leave_fold_out_expected(
                estimates[model], cv, dict(zip(cv["id"], cv["fold"], strict=True))
            ),
        )
        if len(cv)
        else None,
    }
    return section


PREDICTED = "predicted"  # outcomes of a prediction run over labelled enzymes


def prediction_honesty(
    ids: Iterable[str],
    best_identity: np.ndarray,
    expected: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    calls: np.ndarray,
) -> dict:
    """:func:`honesty` of predictions of labelled enzymes (a MARTS-DB export given to
    predict): each enzyme's top call against the ``expected`` top-call precision its
    prediction carries, aligned with ``ids``. Enzymes without a true ensemble are left out
    (:func:`enzyme_outcomes`); ``n_enzymes`` counts the predictions, ``n_labelled`` those
    the check used."""
    ids = [str(i) for i in ids]
    expected_of = dict(zip(ids, np.asarray(expected, dtype=np.float64), strict=True))
    if len(expected_of) != len(ids):
        raise ValueError("prediction_honesty: enzyme ids must be unique")
    outcomes = enzyme_outcomes(ids, best_identity, y_true, probabilities, calls, PREDICTED)
    return {
        "n_enzymes": len(ids),
        "n_labelled": len(outcomes),
        **honesty(outcomes, np.array([expected_of[i] for i in outcomes["id"]])),
    }
