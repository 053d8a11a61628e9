"""Time `make run` as a new user meets it: a fresh clone, empty results and embedding cache.

Clones the committed HEAD into a scratch folder, points the clone at an existing virtualenv
(building one would time pip, not the pipeline), runs `make run CORES=N` and prints one JSON
object: the wall time of `make run`, Snakemake's own elapsed time, each job's wall and CPU
seconds from the rules' `benchmark:` files, the machine's load average before and after,
and whether the clone's metrics.json equals a reference one (timing fields and the
checkpoint hash aside) when --compare names it. Target (issue 13): <= 10 minutes on 2 cores.

    python bench/bench_make_run.py [--cores 2] [--venv .venv] [--keep DIR]
        [--compare results/report/metrics.json] [--output bench/results/make_run_2cores.json]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from terpene_ensembles.report.inputs import read_benchmarks  # noqa: E402

# Fields of metrics.json that are timings or depend on how the checkpoint file was written.
VOLATILE = {("data", "seconds"), ("split", "seconds"), ("plm", "weights_sha256")}


def job_times(results: Path) -> dict:
    """{job: {"s": wall seconds, "cpu_s": CPU seconds}} from every benchmark TSV."""
    frame = read_benchmarks(results / "benchmarks")
    return {
        row.stage: {"s": row.seconds, "cpu_s": row.cpu_seconds}
        for row in frame.itertuples(index=False)
    }


def differences(reference: dict, candidate: dict, path=()) -> list[str]:
    if path in VOLATILE:
        return []
    if isinstance(reference, dict) and isinstance(candidate, dict):
        keys = sorted(set(reference) | set(candidate))
        return [
            d
            for k in keys
            for d in (
                differences(reference[k], candidate[k], (*path, k))
                if k in reference and k in candidate
                else ["/".join((*path, k)) + " missing on one side"]
            )
        ]
    return [] if reference == candidate else ["/".join(map(str, path))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--venv", default=str(REPO / ".venv"), help="an installed virtualenv")
    parser.add_argument("--compare", default=None, help="reference metrics.json")
    parser.add_argument("--output", default=None, help="also write the JSON here")
    parser.add_argument("--keep", default=None, help="clone here and keep it")
    args = parser.parse_args()

    venv = Path(args.venv).resolve()
    if not (venv / "bin" / "snakemake").exists():
        raise SystemExit(f"{venv}: no snakemake inside; run `make venv` first")
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    scratch = Path(args.keep or tempfile.mkdtemp(prefix="bench_make_run_"))
    clone = scratch / "main"
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # The clone's requirements.txt is newer than the venv's marker; make would reinstall.
    os.utime(clone / "requirements.txt", (0, 0))

    load_before = os.getloadavg()
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "run", f"CORES={args.cores}", f"VENV={venv}"],
        cwd=clone, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    if result.returncode:
        raise SystemExit(f"make run failed (rc {result.returncode}):\n{result.stderr[-3000:]}")
    elapsed = re.search(r"Elapsed time: (\d+):(\d+):(\d+(?:\.\d+)?)", result.stdout + result.stderr)
    summary = {
        "commit": commit,
        "uncommitted_changes_not_measured": bool(dirty),
        "cores": args.cores,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "make_run_s": round(wall, 1),
        "snakemake_elapsed_s": (
            round(int(elapsed[1]) * 3600 + int(elapsed[2]) * 60 + float(elapsed[3]), 1)
            if elapsed
            else None
        ),
        "target_s": 600,
        "jobs": job_times(clone / "results"),
    }
    if args.compare:
        reference = json.loads(Path(args.compare).read_text())
        candidate = json.loads((clone / "results" / "report" / "metrics.json").read_text())
        summary["metrics_differences"] = differences(reference, candidate)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    if not args.keep:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
