"""Screening, step 2 of 3 (`snakemake predict` on FASTA): predict one candidate shard.

The same scoring as the single-job predict (terpene_ensembles.predict.screen); writes
predictions.parquet, predictions.tsv and summary.json under --outdir. Shards share the
embedding cache (--cache-dir).
"""

import argparse
import json
import sys

import _bootstrap  # noqa: F401

from terpene_ensembles.errors import ConfigError
from terpene_ensembles.io_utils import setup_logging
from terpene_ensembles.predict.loop import ScreeningSettings
from terpene_ensembles.predict.shards import run_shard


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--candidates", required=True, help="a shard file of the prefilter")
    parser.add_argument("--outdir", required=True)
    parser.add_argument(
        "--pfam-dir", default=None, help="override for the model's own Pfam HMMs (same HMMs only)"
    )
    parser.add_argument("--plm", default=None, help="the run's plm config section as JSON")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--chunk-size", type=int, default=ScreeningSettings.chunk_size)
    parser.add_argument("--identity-floor", type=float, default=ScreeningSettings.identity_floor)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    log = setup_logging()
    args = parse_args(argv)
    try:
        plm_config = json.loads(args.plm) if args.plm else None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--plm is not JSON ({error})", where="--plm") from error
    settings = ScreeningSettings(
        chunk_size=args.chunk_size, identity_floor=args.identity_floor, threads=args.threads
    )
    summary = run_shard(
        args.model_dir,
        args.candidates,
        args.outdir,
        settings,
        plm_config=plm_config,
        cache_dir=args.cache_dir,
        pfam_dir=args.pfam_dir,
    )
    log.info("shard %s: %d predicted", args.candidates, summary["predicted"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
