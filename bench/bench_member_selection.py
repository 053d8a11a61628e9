"""Which selection procedure should choose the combiner's members?

On the grouped outer CV folds of a finished run (results/ of `make run`), for every fold:
cross-fit every candidate member on the development enzymes (as the train stage does), run
forward selection with each criterion (``--criteria``), minimum gain (``--min-gain``) and
averaging (``--per-fold yes``: criterion per inner fold, averaged; ``no``: pooled OOF rows),
and backward elimination by mAP; fit the combiner over the selected members, set thresholds
on its dev OOF scores as the calibrate stage does, and score the fold's test enzymes. Also
the fixed stack [identity_kernel, positions] and all candidates together. Prints one JSON
object: per procedure, the members selected per fold and the mean test mAP, precision@1,
macro-F1 and calls per true ensemble (for `fixed` these equal the CV summary of a `make run`
with that list).

    python bench/bench_member_selection.py [--results results] [--exclude fusion] \
        [--embeddings EMB.parquet] [--cache DIR]

``--embeddings`` swaps the run's embeddings file (e.g. the output of
workflow/scripts/embed_precomputed.py on a table of bench/make_precomputed_embeddings.py);
``--cache`` keeps each fold's member scores, so later calls only redo the selection.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from terpene_ensembles.learning import cross_fitting as learner  # noqa: E402
from terpene_ensembles.learning import stacking  # noqa: E402
from terpene_ensembles.learning.calibration import (  # noqa: E402
    calibration_with_settings,
    call_ensembles,
    thresholds_vector,
    top_calls,
)
from terpene_ensembles.learning.homology_transfer import reference_best_identity  # noqa: E402
from terpene_ensembles.learning.members import registry  # noqa: E402
from terpene_ensembles.learning.metrics import (  # noqa: E402
    best_threshold_calls,
    mean_average_precision,
    multilabel_metrics,
    precision_at_1,
)
from terpene_ensembles.learning.reference_predictors import score_random  # noqa: E402
from terpene_ensembles.learning.training_data import (  # noqa: E402
    load_training_data,
    read_assignment,
    read_identity_hits,
)
from terpene_ensembles.settings import CalibrateConfig, TrainConfig  # noqa: E402


def negative_log_loss(labels, scores):
    """Mean binary log-loss over (enzyme, class) pairs, negated (higher is better)."""
    p = np.clip(scores, 1e-6, 1 - 1e-6)
    y = np.asarray(labels, dtype=float)
    return float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def negative_brier(labels, scores):
    return -float(np.mean((np.asarray(scores) - np.asarray(labels, dtype=float)) ** 2))


def backward_elimination(
    oof, candidates, best_identity, labels, folds, min_gain, criterion=mean_average_precision
):
    """Start from every candidate; repeatedly drop the member whose removal costs the
    cross-fitted combination least (criterion per inner fold), while that cost is below
    ``min_gain``."""

    def score(members):
        return learner.combination_score(oof, members, best_identity, labels, folds, criterion)

    kept = list(candidates)
    current = score(kept)
    while len(kept) > 1:
        trials = {name: score([m for m in kept if m != name]) for name in kept}
        name = max(kept, key=trials.__getitem__)
        if trials[name] < current - min_gain:
            break
        kept.remove(name)
        current = trials[name]
    return kept, []


def mean_map_precision_at_1(labels, scores):
    return 0.5 * (mean_average_precision(labels, scores) + precision_at_1(labels, scores))


def oracle_macro_f1(labels, scores):
    """Mean over classes of the best F1 a per-class threshold reaches (top call kept)."""
    return float(np.mean(best_threshold_calls(labels, scores, top_calls(scores), True)[0]))


def mean_map_oracle_macro_f1(labels, scores):
    return 0.5 * (mean_average_precision(labels, scores) + oracle_macro_f1(labels, scores))


CRITERIA = {
    "oracle_macro_f1": oracle_macro_f1,
    "mean_map_oracle_macro_f1": mean_map_oracle_macro_f1,
    "neg_log_loss": negative_log_loss,
    "neg_brier": negative_brier,
    "map": mean_average_precision,
    "precision_at_1": precision_at_1,
    "mean_map_precision_at_1": mean_map_precision_at_1,
}
FIXED = ["identity_kernel", "positions"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--exclude", nargs="*", default=["fusion"])
    parser.add_argument("--min-gain", type=float, nargs="+", default=[learner.SELECTION_MIN_GAIN])
    parser.add_argument(
        "--per-fold",
        type=lambda v: v == "yes",
        nargs="+",
        default=[True],
        help="yes: the criterion per inner fold, averaged (as CV reports); no: pooled OOF rows",
    )
    parser.add_argument(
        "--signal-check",
        type=lambda v: v == "yes",
        default=True,
        help="yes (as train does): only candidates above random scores on every inner fold "
        "enter selection; no: every candidate (the runs before the check existed)",
    )
    parser.add_argument("--criteria", nargs="+", default=list(CRITERIA), choices=list(CRITERIA))
    parser.add_argument(
        "--embeddings",
        help="embeddings Parquet (embed stage layout, e.g. from embed_precomputed.py) in "
        "place of the run's results/embed/*.parquet",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="folder for each fold's member scores (reused by later calls on the same run)",
    )
    args = parser.parse_args()
    results = Path(args.results)
    embeddings = (
        [args.embeddings] if args.embeddings else sorted((results / "embed").glob("*.parquet"))
    )
    data = load_training_data(
        results / "parse/labels.parquet",
        results / "features/features.parquet",
        embeddings[0] if embeddings else None,
        results / "features/positions.parquet",
    )
    embedding_tag = Path(embeddings[0]).stem if embeddings else "none"
    folds = read_assignment(results / "split/cv_folds.tsv", "fold", data.ids).astype(int)
    hits = read_identity_hits(results / "split/pairwise_identity.parquet")
    settings = TrainConfig.from_config({"members": "auto", "excluded_candidates": args.exclude})
    out = {}
    for fold in np.unique(folds):
        is_test = folds == fold
        dev, test = data.subset(~is_test), data.subset(is_test)
        inner = folds[~is_test]
        candidates = learner.active_members(settings, dev)
        oof, test_scores = {}, {}
        for name in candidates:
            # Scores depend on the embeddings only for members that read them.
            tag = embedding_tag if "embeddings" in registry.get(name).needs else "features"
            cached = args.cache / f"fold{fold}_{name}_{tag}.npz" if args.cache else None
            if cached is not None and cached.exists():
                with np.load(cached) as saved:
                    oof[name], test_scores[name] = saved["oof"], saved["test"]
                continue
            value, oof[name], _ = learner.select_member(name, dev, inner, hits, settings)
            member = registry.get(name)
            test_scores[name] = member.score(member.fit(dev, value, settings), test, hits)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cached, oof=oof[name], test=test_scores[name])
        dev_identity = learner.out_of_fold_best_identity(dev, inner, hits)
        random_scores = score_random(dev.ids, len(dev.ensemble_ids), settings.seed)
        signal = {
            name: learner.signal_over_random(oof[name], random_scores, dev.labels, inner)
            for name in candidates
        }
        all_candidates = candidates
        if args.signal_check:
            candidates = learner.candidates_with_signal(signal)
        test_identity = reference_best_identity(test.ids, hits, dev.ids)
        choices = {
            f"{name}@{gain}{'/fold' if per_fold else ''}": learner.forward_selection(
                oof, candidates, dev_identity, dev.labels, inner, gain, criterion, per_fold
            )[0]
            for name, criterion in CRITERIA.items()
            if name in args.criteria
            for gain in args.min_gain
            for per_fold in args.per_fold
        }
        for gain in args.min_gain:
            choices[f"backward_map@{gain}"] = backward_elimination(
                oof, candidates, dev_identity, dev.labels, inner, gain, mean_average_precision
            )[0]
        choices["fixed"] = FIXED
        choices["all_candidates"] = all_candidates
        for name, members in choices.items():
            combiner = stacking.fit_combiner(oof, members, dev_identity, dev.labels)
            scores = combiner.apply(test_scores, test_identity)
            # Thresholds as the calibrate stage sets them: on the model's dev OOF scores.
            model_oof = stacking.cross_fitted_combination(
                oof, members, dev_identity, dev.labels, inner
            )
            calibration = calibration_with_settings(
                model_oof, dev.labels, list(data.ensemble_ids), CalibrateConfig()
            )
            thresholds = thresholds_vector(calibration, list(data.ensemble_ids))
            calls = call_ensembles(scores, thresholds, CalibrateConfig().always_call_top)
            decided = multilabel_metrics(
                test.labels, scores, calls, list(data.ensemble_ids), thresholds, True
            )
            out.setdefault(name, {"folds": []})["folds"].append(
                {
                    "fold": int(fold),
                    "members": members,
                    "test_map": round(mean_average_precision(test.labels, scores), 6),
                    "test_precision_at_1": round(precision_at_1(test.labels, scores), 6),
                    "test_macro_f1": decided["macro_f1"],
                    "test_calls_per_true": round(
                        decided["calls_per_enzyme"] / decided["true_per_enzyme"], 6
                    ),
                }
            )
        print(
            json.dumps({"fold": int(fold), "choices": choices, "signal": signal}),
            file=sys.stderr,
            flush=True,
        )
    for entry in out.values():
        for metric in ("test_map", "test_precision_at_1", "test_macro_f1", "test_calls_per_true"):
            entry[f"mean_{metric}"] = round(float(np.mean([f[metric] for f in entry["folds"]])), 6)
    print(
        json.dumps(
            {"min_gain": args.min_gain, "embeddings": str(embeddings[0]), "criteria": out},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
