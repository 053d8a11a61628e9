"""GPU benchmark of the embed stage: esm2_t33_650M architecture, RANDOM weights, fp16.

Self-contained: needs only torch and fair-esm (plus this repository's workflow/ package);
no weights are downloaded (the model is built with fair-esm's own ESM2 class and random
initialisation directly on the GPU) and the sequences are synthetic, with lengths drawn to
resemble terpene synthases (median ~570 residues, a tail beyond 1,022 that exercises the
window path). Prints one JSON object:

- stage: residues/s, sequences/s, peak GPU memory and model FLOP utilisation (MFU) for
  each token budget; MFU = model FLOPs / time / peak dense fp16 tensor FLOP/s of the card,
  model FLOPs per layer and input of T tokens = 24*T*D^2 (q, k, v, out, 2 FFN matmuls)
  + 4*T^2*D (QK^T and AV), counting real (unpadded) tokens incl. BOS/EOS;
- reference: fair-esm's own forward (the ``scripts/extract.py`` loop) on a subset, in
  fp16 (``model.half()``) for speed and fp32 for accuracy; the stage's fp16 result is
  compared with the fp32 reference (max abs diff, min cosine similarity).

    python bench/bench_embed_gpu.py                 # ~2,000 sequences, < 3 min on an H100
    python bench/bench_embed_gpu.py --device cpu --arch esm2_t6_8M_UR50D --precision fp32 \
        --sequences 6 --reference-sequences 4 --token-budgets 2048   # smoke test, no GPU
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from terpene_ensembles.embed.embedding import (  # noqa: E402
    Embedder,
    EmbedSettings,
    plan_pieces,
    reference_mean_embeddings,
)
from terpene_ensembles.embed.esm_weights import ESM2_ARCHITECTURES, LoadedEsm  # noqa: E402

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
MODEL = "esm2_t33_650M_UR50D"
HALF = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}

# Dense fp16/bf16 tensor-core peak (no sparsity), by substring of the device name.
PEAK_FP16_TFLOPS = [
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM / HBM3
    ("A100", 312.0),
    ("L40S", 362.1),
    ("A10", 125.0),
]


def synthetic_sequences(count: int, seed: int) -> list[str]:
    """Random residues; lengths ~ lognormal around 570 (MARTS-like), clipped to 250..1,750."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(570), 0.27, count), 250, 1750).astype(int)
    letters = np.array(list(AMINO_ACIDS))
    return ["".join(rng.choice(letters, length)) for length in lengths]


def model_flops(sequences, settings, layers: int, dim: int) -> float:
    tokens = np.array([p.length + 2 for p in plan_pieces([len(s) for s in sequences], settings)])
    per_layer = 24.0 * tokens * dim**2 + 4.0 * tokens.astype(float) ** 2 * dim
    return float(per_layer.sum() * layers)


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in PEAK_FP16_TFLOPS:
        if key in name:
            return value
    return None


def synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn):
    synchronize()
    start = time.perf_counter()
    result = fn()
    synchronize()
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--reference-sequences", type=int, default=300)
    parser.add_argument("--token-budgets", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the table")
    parser.add_argument("--arch", default=MODEL, choices=sorted(ESM2_ARCHITECTURES))
    parser.add_argument("--device", default="cuda", help="cpu only for a smoke test")
    parser.add_argument(
        "--precision", default="fp16", choices=sorted(HALF), help="fp32 only for a CPU smoke test"
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_embed_gpu.py needs a CUDA device")
    on_gpu = args.device == "cuda"

    import esm

    layers, dim, heads = ESM2_ARCHITECTURES[args.arch]
    torch.manual_seed(args.seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    with torch.device(args.device):
        model = esm.model.esm2.ESM2(layers, dim, heads, alphabet).eval()
    loaded = LoadedEsm(
        model=model,
        alphabet=alphabet,
        model_name=args.arch,
        weights_path=Path("<random, in memory>"),
        weights_sha256=f"random-seed-{args.seed}",
        random_weights=True,
    )
    parameters = sum(p.numel() for p in model.parameters())
    sequences = synthetic_sequences(args.sequences, args.seed)
    residues = sum(len(s) for s in sequences)
    device_name = torch.cuda.get_device_name() if on_gpu else "cpu"
    peak = peak_tflops(device_name, args.peak_tflops)
    report = {
        "device": device_name,
        "torch": torch.__version__,
        "fair_esm": esm.__version__,
        "model": args.arch,
        "weights": "RANDOM",
        "parameters": parameters,
        "precision": f"{args.precision} autocast",
        "sequences": len(sequences),
        "residues": residues,
        "sequences_over_1022": sum(len(s) > 1022 for s in sequences),
        "peak_fp16_tflops_assumed": peak,
        "stage": {},
    }

    for budget in args.token_budgets:
        settings = EmbedSettings(
            max_tokens_per_batch=budget, precision=args.precision, device=args.device
        )
        embedder = Embedder(loaded, settings)
        embedder.embed(sequences[:32], progress=False)  # warm-up: kernels, autocast cache
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        _, seconds = timed(lambda e=embedder: e.embed(sequences, progress=False))
        flops = model_flops(sequences, settings, layers, dim)
        report["stage"][str(budget)] = {
            "seconds": round(seconds, 2),
            "sequences_per_s": round(len(sequences) / seconds, 1),
            "residues_per_s": round(residues / seconds),
            "model_tflops_per_s": round(flops / seconds / 1e12, 1),
            "mfu": round(flops / seconds / (peak * 1e12), 3) if peak else None,
            "peak_gpu_memory_gb": (
                round(torch.cuda.max_memory_allocated() / 2**30, 2) if on_gpu else None
            ),
        }
        print(json.dumps({f"stage_{budget}": report["stage"][str(budget)]}), file=sys.stderr)

    # Reference: fair-esm's own forward on sequences it handles without truncation.
    subset = [s for s in sequences if len(s) <= 1022][: args.reference_sequences]
    subset_residues = sum(len(s) for s in subset)
    half_model = copy.deepcopy(model).to(HALF[args.precision])
    reference_mean_embeddings(half_model, alphabet, subset[:16], -1)  # warm-up
    _, ref_seconds = timed(
        lambda m=half_model: reference_mean_embeddings(m, alphabet, subset, -1, toks_per_batch=4096)
    )
    del half_model
    if on_gpu:
        torch.cuda.empty_cache()
    settings = EmbedSettings(
        max_tokens_per_batch=4096, precision=args.precision, device=args.device
    )
    embedder = Embedder(loaded, settings)
    embedder.embed(subset[:16], progress=False)
    stage_fp16, stage_seconds = timed(lambda: embedder.embed(subset, progress=False))
    reference_fp32 = reference_mean_embeddings(model, alphabet, subset, -1)
    cosine = (stage_fp16 * reference_fp32).sum(1) / (
        np.linalg.norm(stage_fp16, axis=1) * np.linalg.norm(reference_fp32, axis=1)
    )
    report["reference_subset"] = {
        "sequences": len(subset),
        "fair_esm_half_residues_per_s": round(subset_residues / ref_seconds),
        "stage_half_residues_per_s": round(subset_residues / stage_seconds),
        "speedup_same_budget_4096": round(ref_seconds / stage_seconds, 2),
        "stage_half_vs_fair_esm_fp32_max_abs_diff": float(
            np.abs(stage_fp16 - reference_fp32).max()
        ),
        "stage_half_vs_fair_esm_fp32_min_cosine": float(cosine.min()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
