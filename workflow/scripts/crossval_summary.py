"""Cross-validation summary: mean and spread over the fold metrics files."""

import argparse

import _bootstrap  # noqa: F401

from terpene_ensembles.io_utils import read_json, setup_logging, write_json
from terpene_ensembles.learning.cross_validation import summarise


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", nargs="+", required=True, help="fold metrics.json files")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    log = setup_logging()
    summary = summarise([read_json(path) for path in args.folds])
    write_json(summary, args.output)
    log.info("cv acceptance: %s", summary["acceptance"])


if __name__ == "__main__":
    main()
