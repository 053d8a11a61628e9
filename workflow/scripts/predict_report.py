"""The screening report (report.html) of a finished predict folder.

Reads summary.json, predictions.parquet (and not_tps.tsv, rejected.tsv when present) of
--outdir; the MARTS-DB route of `snakemake predict` runs it after predict.py (the FASTA
route writes the report in predict_gather.py).
"""

import argparse
import sys

import _bootstrap  # noqa: F401

from terpene_ensembles.io_utils import setup_logging
from terpene_ensembles.screening.screening_report import write_screening_report


def main(argv=None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", required=True, help="a predict output folder")
    parser.add_argument("--report", required=True, help="report.html to write")
    args = parser.parse_args(argv)
    write_screening_report(args.outdir, args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
