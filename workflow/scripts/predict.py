"""Screen new sequences with a trained model directory (the `snakemake predict` stage).

Outside Snakemake, install the package and use the same options:

    pip install .
    tps-ensembles predict --model-dir results/model --input x.fasta --outdir out/

Input: FASTA (plain or gzipped) or a MARTS-DB export (then also metrics.json against the
labels, parsed with the model's frozen ensemble vocabulary). Writes predictions.parquet,
predictions.tsv, rejected.tsv and summary.json (and metrics.json) under --outdir.
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
    return add_predict_arguments(parser).parse_args(argv)


def main(argv=None) -> int:
    log = setup_logging()
    args = parse_args(argv)
    summary = run_predict(args)
    log.info("summary: %s", json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
