"""All-vs-all MMseqs2 search of the enzymes: identity, coverage, e-value and bits per pair."""

import argparse
import time

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.io_utils import setup_logging, write_parquet
from terpene_ensembles.split import homology


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enzymes", required=True, help="parse/enzymes.parquet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", required=True)
    parser.add_argument("--sensitivity", type=float, default=homology.DEFAULT_SENSITIVITY)
    parser.add_argument("--max-seqs", type=int, default=homology.DEFAULT_MAX_SEQS)
    parser.add_argument("--evalue", type=float, default=homology.DEFAULT_EVALUE)
    args = parser.parse_args()
    log = setup_logging()
    started = time.perf_counter()

    enzymes = pd.read_parquet(args.enzymes, columns=["id", "sequence"])
    mmseqs = homology.resolve_mmseqs()
    hits = homology.pairwise_identity(
        enzymes["id"].tolist(),
        enzymes["sequence"].tolist(),
        threads=args.threads,
        sensitivity=args.sensitivity,
        max_seqs=args.max_seqs,
        evalue=args.evalue,
        executable=mmseqs.path,
    )
    write_parquet(
        hits,
        args.output,
        metadata={
            **{f"mmseqs_{key}": value for key, value in mmseqs.record().items()},
            "sensitivity": args.sensitivity,
            "max_seqs": args.max_seqs,
            "evalue": args.evalue,
            "identity": "fident (identical positions / alignment length)",
        },
    )
    log.info(
        "%d pairs for %d enzymes (%d with a hit) in %.1f s",
        len(hits), len(enzymes), hits["query"].nunique(), time.perf_counter() - started,
    )  # fmt: skip


if __name__ == "__main__":
    main()
