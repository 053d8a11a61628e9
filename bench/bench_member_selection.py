"""Which criterion should forward selection of the combiner's members maximise?

On the grouped outer CV folds of a finished run (results/ of `make run`), for every fold:
cross-fit every candidate member on the development enzymes (as the train stage does),
run forward selection with each criterion (OOF mAP, OOF precision@1, their mean), fit the
combiner over the selected members and score the fold's test enzymes (raw combiner
probabilities, before calibration). Also the fixed stack [identity_kernel, positions].
Prints one JSON object: per criterion, the members selected per fold and the mean test mAP
and precision@1.

    python bench/bench_member_selection.py [--results results] [--exclude fusion]
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
from terpene_ensembles.learning.homology_transfer import reference_best_identity  # noqa: E402
from terpene_ensembles.learning.members import registry  # noqa: E402
from terpene_ensembles.learning.metrics import (  # noqa: E402
    mean_average_precision,
    precision_at_1,
)
from terpene_ensembles.learning.training_data import (  # noqa: E402
    load_training_data,
    read_assignment,
    read_identity_hits,
)
from terpene_ensembles.settings import TrainConfig  # noqa: E402

CRITERIA = {
    "map": mean_average_precision,
    "precision_at_1": precision_at_1,
    "mean_map_precision_at_1": learner.selection_criterion,
}
FIXED = ["identity_kernel", "positions"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--exclude", nargs="*", default=["fusion"])
    parser.add_argument("--min-gain", type=float, default=learner.SELECTION_MIN_GAIN)
    args = parser.parse_args()
    results = Path(args.results)
    embeddings = sorted((results / "embed").glob("*.parquet"))
    data = load_training_data(
        results / "parse/labels.parquet",
        results / "features/features.parquet",
        embeddings[0] if embeddings else None,
        results / "features/positions.parquet",
    )
    folds = read_assignment(results / "split/cv_folds.tsv", "fold", data.ids).astype(int)
    hits = read_identity_hits(results / "split/pairwise_identity.parquet")
    settings = TrainConfig.from_config({"excluded_candidates": args.exclude})
    out = {name: {"folds": []} for name in [*CRITERIA, "fixed"]}
    for fold in np.unique(folds):
        is_test = folds == fold
        dev, test = data.subset(~is_test), data.subset(is_test)
        inner = folds[~is_test]
        candidates = learner.active_members(settings, dev)
        oof, test_scores = {}, {}
        for name in candidates:
            value, oof[name], _ = learner.select_member(name, dev, inner, hits, settings)
            member = registry.get(name)
            test_scores[name] = member.score(member.fit(dev, value, settings), test, hits)
        dev_identity = learner.out_of_fold_best_identity(dev, inner, hits)
        test_identity = reference_best_identity(test.ids, hits, dev.ids)
        choices = {
            name: learner.forward_selection(
                oof, candidates, dev_identity, dev.labels, inner, args.min_gain, criterion
            )[0]
            for name, criterion in CRITERIA.items()
        }
        choices["fixed"] = FIXED
        for name, members in choices.items():
            combiner = stacking.fit_combiner(oof, members, dev_identity, dev.labels)
            scores = combiner.apply(test_scores, test_identity)
            out[name]["folds"].append(
                {
                    "fold": int(fold),
                    "members": members,
                    "test_map": round(mean_average_precision(test.labels, scores), 6),
                    "test_precision_at_1": round(precision_at_1(test.labels, scores), 6),
                }
            )
        print(json.dumps({"fold": int(fold), "choices": choices}), file=sys.stderr, flush=True)
    for entry in out.values():
        for metric in ("test_map", "test_precision_at_1"):
            entry[f"mean_{metric}"] = round(float(np.mean([f[metric] for f in entry["folds"]])), 6)
    print(json.dumps({"min_gain": args.min_gain, "criteria": out}, indent=1))


if __name__ == "__main__":
    main()
