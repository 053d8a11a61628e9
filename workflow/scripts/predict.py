"""Screen new sequences with a trained model directory.

Usage outside Snakemake:

    python workflow/scripts/predict.py --model-dir results/model --input x.fasta --outdir out/

Input: FASTA (plain or gzipped) or a MARTS-DB export (then also metrics.json against the
labels, parsed with the model's frozen ensemble vocabulary). Writes predictions.parquet,
predictions.tsv, rejected.tsv and summary.json (and metrics.json) under --outdir.
"""

import argparse
import json
import sys

import _bootstrap  # noqa: F401

from terpene_ensembles.io_utils import setup_logging
from terpene_ensembles.predict import ModelCompatibilityError, ScreeningSettings, run_prediction
from terpene_ensembles.sequence_input import InputFormatError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", required=True, help="trained model directory")
    parser.add_argument("--input", required=True, help="FASTA (.gz ok) or MARTS-DB export")
    parser.add_argument("--outdir", required=True)
    parser.add_argument(
        "--plm",
        default=None,
        help="the run's `plm` config section as JSON; checked against the model's PLM "
        "(default: use the model's own PLM settings)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="embedding cache folder (when the model uses a PLM)"
    )
    parser.add_argument(
        "--pfam-dir",
        default="resources/pfam",
        help="the TPS Pfam HMM folder the model was trained with (features.pfam_dir; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--kingdom",
        default="",
        help="MARTS-DB kingdom of every FASTA sequence, e.g. Plantae or Fungi (a model "
        "feature; default unknown). MARTS-DB input brings its own.",
    )
    parser.add_argument("--chunk-size", type=int, default=ScreeningSettings.chunk_size)
    parser.add_argument(
        "--identity-floor",
        type=float,
        default=ScreeningSettings.identity_floor,
        help="best training-enzyme identity (0-1) below which a call is out of domain",
    )
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    log = setup_logging()
    args = parse_args(argv)
    settings = ScreeningSettings(
        chunk_size=args.chunk_size,
        identity_floor=args.identity_floor,
        threads=args.threads,
        kingdom=args.kingdom,
    )
    try:
        summary = run_prediction(
            model_dir=args.model_dir,
            input_path=args.input,
            outdir=args.outdir,
            settings=settings,
            plm_config=json.loads(args.plm) if args.plm else None,
            cache_dir=args.cache_dir,
            pfam_dir=args.pfam_dir,
        )
    except (InputFormatError, ModelCompatibilityError) as error:
        log.error("%s", error)
        return 2
    log.info("summary: %s", json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
