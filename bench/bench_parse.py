"""Time the parse stage on a MARTS-DB export (target: the shared file in under 10 s).

Usage: python bench/bench_parse.py [--marts PATH] [--repeats N]
Prints the wall time of each full run (read, validate, RDKit skeletons, vocabulary,
labels, outputs written to a temporary folder) in a fresh process, as Snakemake runs it.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--marts", default=str(REPO / "resources" / "demo" / "marts_db.csv"))
    parser.add_argument("--names", default=str(REPO / "config" / "ensemble_names.tsv"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as outdir:
            command = [
                sys.executable,
                str(REPO / "workflow" / "scripts" / "parse.py"),
                "--marts",
                args.marts,
                "--names",
                args.names,
                *(
                    word
                    for name in (
                        "enzymes.parquet",
                        "labels.parquet",
                        "ensembles.tsv",
                        "rejected.tsv",
                        "summary.json",
                    )
                    for word in (f"--{name.split('.')[0]}", f"{outdir}/{name}")
                ),
            ]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    best = min(times)
    print(f"parse {args.marts}: " + ", ".join(f"{t:.2f} s" for t in times))
    verdict = "OK" if best < TARGET_SECONDS else "TOO SLOW"
    print(f"best {best:.2f} s (target < {TARGET_SECONDS:.0f} s): {verdict}")
    return 0 if best < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
