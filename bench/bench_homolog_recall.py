"""Recall of the prefilter's homology arm on TPS it has never seen, by grouped CV fold.

The arm matters for the enzymes no TPS profile accepts (66 of the 991 demo enzymes). Each
of them is searched, with the arm's own code (``homolog_database.TrainingHomologDatabase``),
against the enzymes of the OTHER grouped CV folds of a run (``results/split/cv_folds.tsv``:
folds hold whole clusters, so no enzyme has a close relative on the other side), as if
those were the model's training set. Found / searched estimates the arm's recall on new
TPS families' members; (profile hits + found) / all is the expected prefilter recall.
Optionally ``--decoys N`` shuffled TPS sequences (``predict.synthetic``) are searched
against all enzymes: hits among them are false candidates.

    .venv/bin/python bench/bench_homolog_recall.py --results /tmp/bench_screen/results
    .venv/bin/python bench/bench_homolog_recall.py --results ... --sensitivity 7.5 \\
        --kmer-size 0 --max-seqs 200 --min-ungapped-score 15   # predict's neighbour search
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))


def main(argv=None) -> int:
    import pandas as pd

    from terpene_ensembles.data.sequence_input import SequenceRecord
    from terpene_ensembles.predict.homolog_database import (
        HOMOLOG_SEARCH,
        HomologSearch,
        TrainingHomologDatabase,
    )
    from terpene_ensembles.predict.prefilter import TpsPrefilter
    from terpene_ensembles.predict.synthetic import proteome_records

    defaults = asdict(HOMOLOG_SEARCH)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="a run's results/ folder")
    parser.add_argument("--pfam-dir", type=Path, default=REPO / "resources" / "demo" / "pfam")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decoys", type=int, default=0)
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    search = HomologSearch(**{name: getattr(args, name) for name in defaults})

    enzymes = pd.read_parquet(
        args.results / "parse" / "enzymes.parquet", columns=["id", "sequence"]
    )
    folds = pd.read_csv(args.results / "split" / "cv_folds.tsv", sep="\t", dtype={"id": str})
    enzymes = enzymes.merge(folds[["id", "fold"]], on="id", validate="one_to_one")
    records = [
        SequenceRecord(i + 1, r.id, "", r.sequence) for i, r in enumerate(enzymes.itertuples())
    ]
    accepted = [v.candidate for v in TpsPrefilter(args.pfam_dir, args.threads).classify(records)]
    enzymes["profile"] = accepted
    started = time.perf_counter()
    found, missed = 0, []
    with tempfile.TemporaryDirectory() as scratch:
        for fold in sorted(enzymes["fold"].unique()):
            queries = enzymes[(enzymes["fold"] == fold) & ~enzymes["profile"]]
            if queries.empty:
                continue
            training = enzymes[enzymes["fold"] != fold][["id", "sequence"]]
            database = TrainingHomologDatabase(
                training, Path(scratch) / f"fold{fold}", args.threads, search
            )
            hits = database.homologous(queries["sequence"].tolist())
            found += len(hits)
            missed += [q for i, q in enumerate(queries["id"]) if i not in hits]
        false_candidates = None
        if args.decoys:
            tps = enzymes["sequence"].tolist()
            decoys = [s for a, s in proteome_records(tps, args.decoys, decoys_per_tps=10**6, seed=1)
                      if a.startswith("decoy")]  # fmt: skip
            database = TrainingHomologDatabase(enzymes[["id", "sequence"]], Path(scratch) / "all",
                                               args.threads, search)  # fmt: skip
            false_candidates = len(database.homologous(decoys))
    searched = int((~enzymes["profile"]).sum())
    result = {
        "search": asdict(search),
        "enzymes": len(enzymes),
        "accepted_by_a_profile": int(enzymes["profile"].sum()),
        "profile_less_searched": searched,
        "profile_less_found_by_cv_fold": found,
        "missed": sorted(missed),
        "expected_prefilter_recall": round(
            (int(enzymes["profile"].sum()) + found) / len(enzymes), 4
        ),
        "decoys_searched": args.decoys - 1 if args.decoys else 0,
        "decoys_with_a_hit": false_candidates,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
