"""Parse stage: MARTS-DB reactions export -> enzymes, ensemble labels, rejections."""

import argparse
import json
import sys
import time

import _bootstrap  # noqa: F401

from terpene_ensembles.io_utils import setup_logging, write_json, write_parquet, write_tsv
from terpene_ensembles.parse_stage import run_parse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--marts", required=True, help="MARTS-DB reactions export (CSV)")
    parser.add_argument("--names", required=True, help="curated ensemble names (TSV)")
    parser.add_argument("--settings", default="{}", help="`parse` config section as JSON")
    parser.add_argument("--outdir", required=True, help="folder for the parse outputs")
    args = parser.parse_args(argv)
    logger = setup_logging()
    started = time.perf_counter()
    outputs = run_parse(args.marts, args.names, json.loads(args.settings))
    outputs.summary["seconds"] = round(time.perf_counter() - started, 3)
    out = args.outdir.rstrip("/")
    write_parquet(outputs.enzymes, f"{out}/enzymes.parquet")
    write_parquet(outputs.labels, f"{out}/labels.parquet")
    write_tsv(outputs.vocabulary, f"{out}/ensembles.tsv")
    write_tsv(outputs.rejected, f"{out}/rejected.tsv")
    write_json(outputs.summary, f"{out}/summary.json")
    summary = outputs.summary
    logger.info(
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
