"""CPU benchmark: the embed stage vs fair-esm's reference extraction loop.

Both run the same RANDOM-weight esm2_t6_8M_UR50D checkpoint over the distinct sequences
of the demo MARTS-DB file, each in its own child process (clean peak memory), with the
same number of torch threads. The sequences are split into random chunks and the two
processes take turns chunk by chunk (alternating who goes first), so on a shared machine
both see the same background load:

- reference: fair-esm ``scripts/extract.py --include mean`` logic
  (``FastaBatchedDataset.get_batch_indices(4096, extra_toks_per_seq=1)``, BatchConverter
  truncating at 1,022 residues, ``model(tokens, repr_layers=[6])``, mean over 1..len);
- stage: ``terpene_ensembles.embed.embedding.Embedder`` with the default ``plm`` settings
  (token budget 4,096, fp32 on CPU, windows for sequences > 1,022 residues).

Prints sequences/s, residues/s (residues of the input sequences) and peak RSS of each, the
speed-up, and the max abs difference (sequences <= 1,022 residues, where both compute the
same thing; the few longer ones are compared against the stage in truncate mode).

    nice -n -5 .venv/bin/python bench/bench_embed_cpu.py            # all sequences
    .venv/bin/python bench/bench_embed_cpu.py --subset 100          # quick iteration

``--whole-stage`` instead measures the two programs as a user runs them, each as its own
process on the same input (empty embedding cache): ``workflow/scripts/embed.py`` (the
stage script: reads enzymes.parquet, embeds, writes the embeddings Parquet and the cache)
and ``bench/esm_extract_reference.py`` (fair-esm's ``scripts/extract.py --include mean``,
one .pt file per sequence). Wall time and peak RSS come from the child's own rusage;
``--rounds 2`` runs both twice in alternating order.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

DEFAULT_MARTS = REPO / "resources" / "demo" / "marts_db.csv"
MODEL = "esm2_t6_8M_UR50D"


def load_sequences(marts_csv: Path, subset: int | None, seed: int) -> list[str]:
    """Distinct sequences as the parse stage defines them (stripped, uppercase, no '*')."""
    import numpy as np

    from terpene_ensembles.predict.synthetic import export_sequences

    sequences = export_sequences(marts_csv)
    if subset:
        rng = np.random.default_rng(seed)
        picked = sorted(rng.choice(len(sequences), min(subset, len(sequences)), replace=False))
        sequences = [sequences[i] for i in picked]
    return sequences


def ensure_checkpoint(path: Path) -> Path:
    from terpene_ensembles.embed.esm_weights import (
        ESM2_ARCHITECTURES,
        build_random_esm2,
        save_checkpoint,
    )

    if not path.is_file():
        layers, dim, heads = ESM2_ARCHITECTURES[MODEL]
        data = build_random_esm2(layers, dim, heads, seed=0)
        data["arch"] = MODEL
        save_checkpoint(data, path)
    return path


def serve_chunks(phase: str, checkpoint: Path, sequences: list[str], threads: int, out: Path):
    """Child process: embed the chunks named on stdin, answer each with its timings.

    Two workers (reference, stage) take turns chunk by chunk, so both see the same
    background load on a shared machine; each reports its own peak RSS at the end.
    """
    import numpy as np
    import torch

    from terpene_ensembles.embed.embedding import (
        Embedder,
        EmbedSettings,
        reference_mean_embeddings,
    )
    from terpene_ensembles.embed.esm_weights import load_esm

    torch.set_num_threads(threads)
    loaded = load_esm(MODEL, checkpoint)
    mode = "truncate" if phase == "stage_truncate" else "windows"
    embedder = Embedder(loaded, EmbedSettings(long_sequences=mode, device="cpu"), threads)
    matrix = np.zeros((len(sequences), loaded.model.embed_dim), dtype=np.float32)
    for line in sys.stdin:
        request = json.loads(line)
        if request == "done":
            break
        chunk = [sequences[i] for i in request]
        wall, cpu = time.perf_counter(), time.process_time()
        if phase == "reference":
            part = reference_mean_embeddings(loaded.model, loaded.alphabet, chunk, -1)
        else:
            part = embedder.embed(chunk, cache_dir=None, progress=False)
        timing = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
        matrix[request] = part
        print(json.dumps(timing), flush=True)
    np.save(out.with_suffix(".npy"), matrix)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak_mb, 1)}), flush=True)


class Worker:
    def __init__(self, phase, checkpoint, sequences_file, threads, out):
        self.out = out
        command = [sys.executable, __file__, "--phase", phase, "--checkpoint", str(checkpoint),
                   "--sequences-file", str(sequences_file), "--threads", str(threads),
                   "--out", str(out)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.seconds = self.cpu_seconds = 0.0

    def run(self, indices):
        self.process.stdin.write(json.dumps([int(i) for i in indices]) + "\n")
        self.process.stdin.flush()
        timing = json.loads(self.process.stdout.readline())
        self.seconds += timing["seconds"]
        self.cpu_seconds += timing["cpu_seconds"]

    def finish(self):
        import numpy as np

        self.process.stdin.write(json.dumps("done") + "\n")
        self.process.stdin.flush()
        peak = json.loads(self.process.stdout.readline())
        if self.process.wait() != 0:
            raise RuntimeError(f"worker {self.out} failed")
        return np.load(self.out.with_suffix(".npy")), peak["peak_rss_mb"]


def run_child(command: list[str], log: Path) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0:
        raise RuntimeError(f"{command[:2]} failed ({returncode}); see {log}")
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def whole_stage(args, checkpoint: Path, sequences: list[str]) -> dict:
    """embed.py against fair-esm's extract.py, each a process on the same sequences."""
    import numpy as np
    import pandas as pd
    import torch

    from terpene_ensembles.embed.embedding_files import read_embeddings
    from terpene_ensembles.settings import PlmConfig

    ids = [f"s{i}" for i in range(len(sequences))]
    # The default plm settings, on the CPU, with the benchmark checkpoint.
    settings = PlmConfig(model=MODEL, checkpoint=str(checkpoint), device="cpu").as_dict()
    runs: dict[str, list[dict]] = {"reference": [], "stage": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fasta, enzymes = tmp / "sequences.fasta", tmp / "enzymes.parquet"
        fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, sequences, strict=True)))
        pd.DataFrame({"id": ids, "sequence": sequences}).to_parquet(enzymes)
        for number in range(args.rounds):
            order = ("reference", "stage") if number % 2 == 0 else ("stage", "reference")
            for phase in order:
                out = tmp / f"{phase}_{number}"
                if phase == "reference":
                    command = [sys.executable, str(REPO / "bench" / "esm_extract_reference.py"),
                               str(checkpoint), MODEL, str(fasta), str(out),
                               "--threads", str(args.threads)]  # fmt: skip
                else:
                    command = [sys.executable, str(REPO / "workflow" / "scripts" / "embed.py"),
                               "--enzymes", str(enzymes), "--settings", json.dumps(settings),
                               "--cache-dir", str(tmp / f"cache_{number}"),
                               "--threads", str(args.threads),
                               "--output", f"{out}.parquet"]  # fmt: skip
                runs[phase].append(run_child(command, tmp / f"{phase}_{number}.log"))
                print(f"round {number + 1} {phase}: {runs[phase][-1]}", flush=True)
        stage_ids, stage, _ = read_embeddings(tmp / "stage_0.parquet")
        stage = stage[[stage_ids.index(i) for i in ids]]
        reference = np.stack([
            torch.load(tmp / "reference_0" / f"{i}.pt")["mean_representations"][6].numpy()
            for i in ids
        ])  # fmt: skip
    short = np.array([len(s) <= 1022 for s in sequences])
    summary = {}
    for phase, rounds in runs.items():
        best = min(rounds, key=lambda r: r["seconds"])
        summary[phase] = {
            "rounds": rounds,
            "best_seconds": best["seconds"],
            "sequences_per_s": round(len(sequences) / best["seconds"], 2),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
        }
    return {
        "measured": "whole programs: workflow/scripts/embed.py vs bench/esm_extract_reference.py",
        **summary,
        "speedup_best_wall": round(
            summary["reference"]["best_seconds"] / summary["stage"]["best_seconds"], 2
        ),
        "peak_rss_ratio_stage_to_reference": round(
            summary["stage"]["peak_rss_mb"] / summary["reference"]["peak_rss_mb"], 3
        ),
        "max_abs_diff_up_to_1022": float(np.abs(stage[short] - reference[short]).max()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marts", type=Path, default=DEFAULT_MARTS)
    parser.add_argument("--subset", type=int, default=None, help="random subset size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=10, help="alternation rounds")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=REPO / "resources" / "esm" / f"random_{MODEL}.pt",
        help="random esm2_t6_8M checkpoint (built with seed 0 if missing)",
    )
    parser.add_argument("--phase", choices=["reference", "stage", "stage_truncate"])
    parser.add_argument("--sequences-file", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--whole-stage", action="store_true", help="time embed.py vs extract.py as programs"
    )
    parser.add_argument("--rounds", type=int, default=1, help="--whole-stage repetitions")
    args = parser.parse_args(argv)

    if args.phase:  # child process
        sequences = json.loads(args.sequences_file.read_text())
        serve_chunks(args.phase, args.checkpoint, sequences, args.threads, args.out)
        return

    import numpy as np

    checkpoint = ensure_checkpoint(args.checkpoint)
    sequences = load_sequences(args.marts, args.subset, args.seed)
    if args.whole_stage:
        import torch

        report = {
            "model": MODEL, "weights": f"RANDOM ({checkpoint})", "sequences": len(sequences),
            "residues": sum(len(s) for s in sequences), "threads": args.threads,
            "torch": torch.__version__, "cpu_count": os.cpu_count(),
            **whole_stage(args, checkpoint, sequences),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        }  # fmt: skip
        print(json.dumps(report, indent=2))
        return
    lengths = np.array([len(s) for s in sequences])
    long_mask = lengths > 1022
    residues = int(lengths.sum())
    rng = np.random.default_rng(args.seed)
    chunks = np.array_split(rng.permutation(len(sequences)), args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "sequences.json").write_text(json.dumps(sequences))
        workers = {
            phase: Worker(phase, checkpoint, tmp / "sequences.json", args.threads, tmp / phase)
            for phase in ("reference", "stage")
        }
        for number, chunk in enumerate(chunks):
            order = ("reference", "stage") if number % 2 == 0 else ("stage", "reference")
            for phase in order:
                workers[phase].run(chunk)
            done = {p: round(w.seconds, 1) for p, w in workers.items()}
            print(f"chunk {number + 1}/{len(chunks)}: cumulative seconds {done}", flush=True)
        results, matrices = {}, {}
        for phase, worker in workers.items():
            matrices[phase], peak = worker.finish()
            results[phase] = {
                "seconds": round(worker.seconds, 2),
                "cpu_seconds": round(worker.cpu_seconds, 2),
                "sequences_per_s": round(len(sequences) / worker.seconds, 2),
                "residues_per_s": round(residues / worker.seconds, 1),
                "peak_rss_mb": peak,
            }
        reference, stage = matrices["reference"], matrices["stage"]
        short_diff = float(np.abs(stage[~long_mask] - reference[~long_mask]).max())
        long_diff = None
        if long_mask.any():
            truncate = Worker(
                "stage_truncate", checkpoint, tmp / "sequences.json", args.threads, tmp / "trunc"
            )
            truncate.run(np.flatnonzero(long_mask))
            truncated, _ = truncate.finish()
            long_diff = float(np.abs(truncated[long_mask] - reference[long_mask]).max())

    import torch

    report = {
        "model": MODEL,
        "weights": f"RANDOM ({checkpoint})",
        "sequences": len(sequences),
        "residues": residues,
        "sequences_over_1022": int(long_mask.sum()),
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "reference": results["reference"],
        "stage": results["stage"],
        "chunks_alternated": args.chunks,
        "speedup": round(results["reference"]["seconds"] / results["stage"]["seconds"], 2),
        "speedup_cpu_time": round(
            results["reference"]["cpu_seconds"] / results["stage"]["cpu_seconds"], 2
        ),
        "max_abs_diff_up_to_1022": short_diff,
        "max_abs_diff_long_truncate_mode": long_diff,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
