"""Benchmark `predict` on synthetic sequences: throughput and peak memory, 1k vs 10k.

    .venv/bin/python bench/bench_predict.py --model-dir results/model [--sizes 1000 10000]
    .venv/bin/python bench/bench_predict.py --demo-model /tmp/demo_model   # no trained run

The model directory must come from a run with ``plm.enabled: false`` (the PLM branch is
off here: this measures input streaming, features, Pfam search, scoring, the MMseqs2
neighbour search and output writing). ``--demo-model DIR`` first trains a small PLM-off
bundle on the first ``--demo-enzymes`` enzymes of the demo MARTS-DB file with the
pipeline's own code (parse, features, MMseqs2 identity, learner, calibration, bundle).

Half the synthetic sequences are training enzymes
with 10% of residues mutated (they find neighbours), half are shuffled training
sequences (realistic composition, no homology). Each size runs `workflow/scripts/predict.py`
in a fresh process; peak memory is that process's maximum resident set size, which on
Linux also covers its MMseqs2 child processes (largest one); `peak_rss_mib_python` and
`peak_rss_mib_mmseqs` (from the run's summary.json) split the two.

Peak memory should barely grow from 1k to 10k sequences: input is streamed in chunks and
outputs are appended chunk by chunk.

Result (2026-11-28, shared 2-core CPU machine under load from other jobs, demo model of 200
enzymes, chunk 1,000, 2 threads, MMseqs2 -s 7.5):

    sequences  seconds  seq/s  peak RSS MiB (all / python / largest MMseqs2)
       1,000    243.5    4.1   868.5 / 470.3 / 868.5
      10,000    585.7   17.1   868.8 / 510.1 / 868.8

Peak memory x1.00 overall (x1.08 for the Python process) for x10 sequences. Throughput is
dominated by the MMseqs2 search (prefilter + alignment) and by machine load; the 1k run also
pays the fixed start-up (imports, profile loading, MMseqs2 database).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "resources" / "demo"
sys.path.insert(0, str(REPO / "workflow"))
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def training_sequences(model_dir: Path) -> list[str]:
    from terpene_ensembles.learning.bundle import ModelBundle

    return list(ModelBundle.load(model_dir).reference_sequences)


def train_demo_model(outdir: Path, marts_csv: Path, pfam_dir: Path, n_enzymes: int) -> None:
    """A PLM-off bundle from the first ``n_enzymes`` enzymes (test fifth and 3 inner folds
    by id hash), fitted as the train and calibrate stages do."""
    import hashlib

    import numpy as np
    import pandas as pd

    from terpene_ensembles.data.parse_stage import run_parse
    from terpene_ensembles.features.alignment_positions import position_table
    from terpene_ensembles.features.sequence_features import INPUT_COLUMNS, feature_table
    from terpene_ensembles.learning.bundle import ModelBundle
    from terpene_ensembles.learning.cross_validation import run_procedure
    from terpene_ensembles.learning.training_data import training_data_from_frames
    from terpene_ensembles.settings import CalibrateConfig, TrainConfig
    from terpene_ensembles.split.homology import pairwise_identity

    table = pd.read_csv(marts_csv, dtype=str, keep_default_na=False)
    keep = table["Enzyme_marts_ID"].drop_duplicates().iloc[:n_enzymes]
    with tempfile.TemporaryDirectory() as scratch:
        export = Path(scratch) / "export.csv"
        table[table["Enzyme_marts_ID"].isin(keep)].to_csv(export, index=False)
        parsed = run_parse(export, None, {"top_k": 10, "min_support": 5})
    enzymes, labels = parsed.enzymes, parsed.labels
    ensemble_ids = [c for c in labels.columns if c != "id"]
    features, _ = feature_table(enzymes[INPUT_COLUMNS], pfam_dir, threads=2)
    hits = pairwise_identity(enzymes["id"].tolist(), enzymes["sequence"].tolist(), threads=2)
    positions = position_table(
        enzymes["id"].tolist(), enzymes["sequence"].tolist(), pfam_dir, threads=2
    )
    data = training_data_from_frames(labels, ensemble_ids, features, positions=positions)
    buckets = np.array([int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) % 15 for i in data.ids])
    cross_fit, _, _, thresholds, _ = run_procedure(
        data, buckets < 3, buckets % 3, hits, TrainConfig(), CalibrateConfig()
    )
    ModelBundle.assemble(cross_fit.model, thresholds, enzymes, parsed.vocabulary, pfam_dir).save(
        outdir
    )


def synthetic_fasta(path: Path, size: int, templates: list[str], seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w") as handle:
        for index in range(size):
            template = rng.choice(templates)
            residues = list(template)
            if index % 2 == 0:
                for position in rng.sample(range(len(residues)), k=len(residues) // 10):
                    residues[position] = rng.choice(AMINO_ACIDS)
            else:
                rng.shuffle(residues)
            handle.write(f">synthetic_{index:06d}\n{''.join(residues)}\n")


def run_predict(
    model_dir: Path, fasta: Path, outdir: Path, chunk_size: int, threads: int, pfam_dir: Path
):
    command = [
        sys.executable,
        str(REPO / "workflow" / "scripts" / "predict.py"),
        "--model-dir",
        str(model_dir),
        "--input",
        str(fasta),
        "--outdir",
        str(outdir),
        "--chunk-size",
        str(chunk_size),
        "--threads",
        str(threads),
        "--pfam-dir",
        str(pfam_dir),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # wait4 gives this child's own rusage: ru_maxrss (KiB on Linux) is the largest RSS of
    # the child and its waited-for descendants (the MMseqs2 runs).
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    output = process.stdout.read().decode()
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"predict failed:\n{output[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, help="a trained PLM-off model directory")
    parser.add_argument("--demo-model", type=Path, help="train a small demo model here first")
    parser.add_argument("--demo-enzymes", type=int, default=300)
    parser.add_argument("--marts", type=Path, default=DEMO_DATA / "marts_db.csv")
    parser.add_argument("--pfam-dir", type=Path, default=DEMO_DATA / "pfam")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.demo_model:
        if not (args.demo_model / "bundle.pt").exists():
            started = time.perf_counter()
            train_demo_model(args.demo_model, args.marts, args.pfam_dir, args.demo_enzymes)
            print(f"demo model trained in {time.perf_counter() - started:.0f} s", flush=True)
        args.model_dir = args.demo_model
    if args.model_dir is None:
        parser.error("give --model-dir or --demo-model")

    templates = training_sequences(args.model_dir)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as scratch:
        scratch = Path(scratch)
        for size in args.sizes:
            fasta = scratch / f"synthetic_{size}.fasta"
            synthetic_fasta(fasta, size, templates, args.seed)
            outdir = scratch / f"out_{size}"
            seconds, peak_mib = run_predict(
                args.model_dir, fasta, outdir, args.chunk_size, args.threads, args.pfam_dir
            )
            predicted = pq.read_metadata(outdir / "predictions.parquet").num_rows
            if predicted != size:
                raise RuntimeError(f"{predicted} of {size} sequences predicted")
            summary = json.loads((outdir / "summary.json").read_text())
            results.append(
                {
                    "sequences": size,
                    "seconds": round(seconds, 2),
                    "sequences_per_second": round(size / seconds, 1),
                    "peak_rss_mib": round(peak_mib, 1),
                    "peak_rss_mib_python": summary.get("peak_rss_mib"),
                    "peak_rss_mib_mmseqs": summary.get("peak_rss_mib_mmseqs"),
                }
            )
            print(json.dumps(results[-1]), flush=True)
    if len(results) >= 2:
        first, last = results[0], results[-1]
        growth = last["peak_rss_mib"] / first["peak_rss_mib"]
        size_ratio = last["sequences"] / first["sequences"]
        print(
            f"peak memory x{growth:.2f} for x{size_ratio:.0f} sequences "
            f"({'sublinear' if growth < size_ratio else 'NOT sublinear'})"
        )
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
