"""Screening, step 3 of 3 (`snakemake predict` on FASTA, GenBank, EMBL): gather the shards,
write the report (genome input: also predictions.gff3, and annotated.gbk for GenBank/EMBL).

Merges the shard predictions back into input order (predictions.parquet, predictions.tsv),
writes summary.json (records_in = predicted + not_tps + rejected) and report.html.
A FASTA without any TPS candidate ends here with a clear message and an empty, valid
predictions file.
"""

import argparse
import json
import sys

import _bootstrap  # noqa: F401

from terpene_ensembles.io_utils import setup_logging
from terpene_ensembles.predict.screening_report import write_screening_report
from terpene_ensembles.predict.shards import gather


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefilter-summary", required=True)
    parser.add_argument("--shard-dirs", nargs="+", required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--settings", default="{}", help="predict config section as JSON")
    parser.add_argument("--report", required=True, help="report.html to write")
    parser.add_argument("--genes", default=None, help="the prefilter's genes.tsv (genome input)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    log = setup_logging()
    args = parse_args(argv)
    summary = gather(
        args.prefilter_summary,
        args.shard_dirs,
        args.outdir,
        settings=json.loads(args.settings),
        genes_path=args.genes,
    )
    write_screening_report(args.outdir, args.report)
    if summary["message"]:
        print(summary["message"], file=sys.stderr)
    log.info(
        "%d records: %d predicted, %d not TPS, %d rejected",
        summary["records_in"],
        summary["predicted"],
        summary["not_tps"],
        summary["rejected"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
