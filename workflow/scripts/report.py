"""Write the self-contained HTML report (results/report/report.html)."""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401

from terpene_ensembles.io_utils import atomic_path, setup_logging
from terpene_ensembles.report import build_report, load_inputs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", required=True, help="report/metrics.json")
    parser.add_argument("--test-predictions", help="report/test_predictions.tsv")
    parser.add_argument("--calibrated", required=True, help="calibrated_predictions.parquet")
    parser.add_argument("--labels", required=True)
    parser.add_argument("--enzymes", required=True)
    parser.add_argument("--ensembles", required=True)
    parser.add_argument("--parse-summary", help="parse/summary.json")
    parser.add_argument("--split", required=True, help="split/split.tsv")
    parser.add_argument("--split-summary", help="split/summary.json")
    parser.add_argument("--identity", required=True, help="split/pairwise_identity.parquet")
    parser.add_argument("--benchmarks", help="folder of Snakemake benchmark files")
    parser.add_argument(
        "--own-benchmark", help="this rule's benchmark file (left out: it is being measured)"
    )
    parser.add_argument("--marts", help="input export, for its checksum")
    parser.add_argument("--config", default="{}", help="the run's whole config as JSON")
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--figures-dir", help="also write each figure as <id>.png here (for snakemake --report)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    log = setup_logging()
    inputs = load_inputs(
        metrics=args.metrics,
        enzymes=args.enzymes,
        labels=args.labels,
        ensembles=args.ensembles,
        split=args.split,
        calibrated=args.calibrated,
        identity=args.identity,
        test_predictions=args.test_predictions,
        benchmarks=args.benchmarks,
        benchmark_exclude=[args.own_benchmark] if args.own_benchmark else [],
        config=json.loads(args.config),
        parse_summary=args.parse_summary,
        split_summary=args.split_summary,
        marts=args.marts,
        repository=Path(__file__).resolve().parents[2],
    )
    report = build_report(inputs)
    with atomic_path(args.output) as tmp:
        tmp.write_text(report.html, encoding="utf-8")
    log.info("wrote %s (%.1f kB)", args.output, len(report.html.encode()) / 1024)
    if args.figures_dir:
        figures_dir = Path(args.figures_dir)
        figures_dir.mkdir(parents=True, exist_ok=True)
        for name, png in report.figures.items():
            with atomic_path(figures_dir / f"{name}.png") as tmp:
                tmp.write_bytes(png)
        log.info("wrote the figures to %s", figures_dir)


if __name__ == "__main__":
    main()
