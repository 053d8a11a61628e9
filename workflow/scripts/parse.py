"""Parse stage: MARTS-DB reactions export -> enzymes, ensemble labels, rejections."""

import argparse
import sys
import time

import _bootstrap  # noqa: F401

from terpene_ensembles.data.parse_stage import run_parse
from terpene_ensembles.io_utils import setup_logging, write_json, write_parquet, write_tsv
from terpene_ensembles.settings import ParseConfig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--marts", required=True, help="MARTS-DB reactions export (CSV)")
    parser.add_argument("--names", required=True, help="curated ensemble names (TSV)")
    parser.add_argument("--settings", default="{}", help="`parse` config section as JSON")
    parser.add_argument("--enzymes", required=True, help="output: enzymes.parquet")
    parser.add_argument("--labels", required=True, help="output: labels.parquet")
    parser.add_argument("--ensembles", required=True, help="output: ensembles.tsv")
    parser.add_argument("--rejected", required=True, help="output: rejected.tsv")
    parser.add_argument("--summary", required=True, help="output: summary.json")
    args = parser.parse_args(argv)
    log = setup_logging()
    started = time.perf_counter()
    outputs = run_parse(args.marts, args.names, ParseConfig.from_json(args.settings))
    outputs.summary["seconds"] = round(time.perf_counter() - started, 3)
    write_parquet(outputs.enzymes, args.enzymes)
    write_parquet(outputs.labels, args.labels)
    write_tsv(outputs.vocabulary, args.ensembles)
    write_tsv(outputs.rejected, args.rejected)
    write_json(outputs.summary, args.summary)
    summary = outputs.summary
    log.info(
        "%d rows in, %d used, %d rejected %s; %d enzymes; %d classes; label coverage %.3f",
        summary["rows_in"],
        summary["rows_used"],
        summary["rows_rejected"],
        summary["rejected_by_reason"],
        summary["enzymes"],
        summary["n_classes"],
        summary["label_coverage"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
