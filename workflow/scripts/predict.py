"""Screen new sequences with a trained model directory (the `snakemake predict` stage).

Outside Snakemake, install the package and use the same options:

    pip install .
    tps-ensembles predict --model-dir results/model --input x.fasta --outdir out/

Input: FASTA (plain or gzipped) or a MARTS-DB export (then also metrics.json against the
labels, parsed with the model's frozen ensemble vocabulary). Writes predictions.parquet,
predictions.tsv, rejected.tsv, not_tps.tsv (FASTA, --prefilter tps_domain) and summary.json
(and metrics.json) under --outdir; --report also writes the screening report.
"""

import argparse
import json
import sys

import _bootstrap  # noqa: F401

from terpene_ensembles.cli import add_predict_arguments, run_predict
from terpene_ensembles.io_utils import setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_predict_arguments(parser)
    parser.add_argument(
        "--report", default=None, help="also write the screening report (report.html) here"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    log = setup_logging()
    args = parse_args(argv)
    summary = run_predict(args)
    if args.report:
        from terpene_ensembles.predict.screening_report import write_screening_report

        write_screening_report(args.outdir, args.report)
    log.info("summary: %s", json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
