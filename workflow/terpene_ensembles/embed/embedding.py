"""Mean-pooled ESM2 embeddings, numerically equal to fair-esm's reference extraction.

Reference (fair-esm ``scripts/extract.py --include mean``): sequences are batched by
``FastaBatchedDataset.get_batch_indices`` (sorted by length, padded batches under a token
budget), run through ``ESM2.forward(tokens, repr_layers=[layer])`` and each sequence's
embedding is the mean of the layer's representation over residues ``1..len`` (BOS and EOS
excluded). ``extract.py`` silently truncates to 1,022 residues.

This module computes the same quantity faster:

- ``Esm2LayerEncoder`` re-runs ESM2's arithmetic from the loaded fair-esm weights, but
  with ``torch.nn.functional.scaled_dot_product_attention`` (fused; no per-head attention
  weights are materialised or averaged, which fair-esm does on every layer), one fused
  q/k/v projection, rotary tables computed once per batch instead of once per layer,
  stops at the requested layer and skips the language-model head.
- batches are length-sorted under a token budget that counts padding, as in the reference.
- ``torch.inference_mode`` and, on GPU, fp16/bf16 autocast.

Sequences longer than the model's window (1,022 residues for ESM2, positions 1..1022
between BOS and EOS) are by default split into overlapping windows of 1,022 residues
(``window_overlap`` residues shared by consecutive windows, the last window aligned to the
sequence end); each window is embedded with its own BOS/EOS, every residue's
representation is averaged over the windows that contain it, and the sequence embedding
is the mean of these residue vectors. ``long_sequences: truncate`` instead keeps the first
1,022 residues, which is what ``extract.py`` does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from terpene_ensembles.errors import ConfigError
from terpene_ensembles.settings import PlmConfig

log = logging.getLogger(__name__)

# ESM2 was trained on 1,024 tokens: BOS + 1,022 residues + EOS.
MAX_RESIDUES_PER_WINDOW = 1022
POOLING = "mean"


@dataclass(frozen=True)
class EmbedSettings:
    """The ``plm`` config section, as far as embedding is concerned."""

    # Defaults: those of the plm section (settings.PlmConfig, the schema's).
    layer: int = PlmConfig.layer
    long_sequences: str = PlmConfig.long_sequences  # windows | truncate
    window_overlap: int = PlmConfig.window_overlap
    max_tokens_per_batch: int = PlmConfig.max_tokens_per_batch
    precision: str = PlmConfig.precision  # auto | fp32 | fp16 | bf16
    device: str = PlmConfig.device  # auto | cpu | cuda
    window_residues: int = MAX_RESIDUES_PER_WINDOW

    @classmethod
    def from_config(cls, plm: dict | PlmConfig) -> EmbedSettings:
        plm = PlmConfig.from_config(plm)
        keys = ("layer", "long_sequences", "window_overlap", "max_tokens_per_batch")
        return cls(**{key: getattr(plm, key) for key in (*keys, "precision", "device")})

    def __post_init__(self):
        if self.long_sequences not in ("windows", "truncate"):
            raise ConfigError(f"long_sequences must be windows or truncate: {self.long_sequences}")
        if not 0 <= self.window_overlap < self.window_residues:
            raise ValueError(
                f"window_overlap ({self.window_overlap}) must be in [0, window_residues "
                f"({self.window_residues}))"
            )


@dataclass(frozen=True)
class Piece:
    """Residues ``start:stop`` of sequence number ``sequence_index`` run as one input."""

    sequence_index: int
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "plm.device is 'cuda' but torch sees no CUDA device",
            fix="set plm.device to auto or cpu, or run on a GPU node",
        )
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on GPU, fp32 on CPU (fp16 matmuls on CPU are slow and inexact)."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("plm.precision fp16 needs a GPU; use fp32 or bf16 on CPU")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def resolve_layer(layer: int, num_layers: int) -> int:
    """fair-esm's convention: 0 = token embeddings, num_layers = last, negatives count back."""
    if not -(num_layers + 1) <= layer <= num_layers:
        raise ConfigError(
            f"layer {layer} outside [-{num_layers + 1}, {num_layers}]", where="plm.layer"
        )
    return (layer + num_layers + 1) % (num_layers + 1)


def configure_cpu_threads(threads: int | None = None) -> int:
    """Use every core we were given for intra-op parallelism, none for inter-op."""
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    return threads


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Start offsets of overlapping windows covering ``length`` residues; last one end-aligned."""
    if length <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, length - window, step))
    starts.append(length - window)
    return starts


def plan_pieces(lengths: Sequence[int], settings: EmbedSettings) -> list[Piece]:
    window = settings.window_residues
    pieces = []
    for index, length in enumerate(lengths):
        if length == 0:
            raise ValueError(f"sequence number {index} is empty")
        if length <= window:
            pieces.append(Piece(index, 0, length))
        elif settings.long_sequences == "truncate":
            pieces.append(Piece(index, 0, window))
        else:
            for start in window_starts(length, window, settings.window_overlap):
                pieces.append(Piece(index, start, start + window))
    return pieces


def token_budget_batches(lengths: Sequence[int], max_tokens: int, extra_tokens: int = 2):
    """Indices into ``lengths`` grouped as ``FastaBatchedDataset.get_batch_indices`` does.

    Sorted by length; a batch is closed when (longest + extra) * count would exceed the
    budget, so padding is counted. One item longer than the budget forms its own batch.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for size, index in sorted((length, index) for index, length in enumerate(lengths)):
        size += extra_tokens
        if current and max(size, longest) * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest = [], 0
        longest = max(longest, size)
        current.append(index)
    if current:
        batches.append(current)
    return batches


def validate_sequences(ids: Sequence[str], sequences: Sequence[str], alphabet) -> None:
    """Every residue must be a token of the ESM alphabet; name the offenders otherwise."""
    allowed = {tok for tok in alphabet.all_toks if len(tok) == 1}
    problems = []
    for identifier, sequence in zip(ids, sequences, strict=True):
        bad = sorted(set(sequence) - allowed)
        if bad or not sequence:
            problems.append(f"{identifier}: {'empty' if not sequence else ''.join(bad)}")
    if problems:
        raise ValueError(
            f"{len(problems)} sequence(s) contain characters outside the ESM alphabet "
            f"(or are empty): {'; '.join(problems[:10])}"
        )


class Esm2LayerEncoder:
    """ESM2 forward pass up to one layer, with fused attention; weights from fair-esm."""

    def __init__(self, model: torch.nn.Module, alphabet, layer: int, device, dtype):
        self.model = model.eval()
        self.alphabet = alphabet
        self.num_layers = model.num_layers
        self.layer = resolve_layer(layer, self.num_layers)
        self.device = torch.device(device)
        self.dtype = dtype
        self.embed_dim = model.embed_dim
        self.heads = model.attention_heads
        self.head_dim = self.embed_dim // self.heads
        self.model.to(self.device)
        # One (3*D, D) projection instead of three (D, D) ones: a single larger GEMM.
        # Two algebraically equivalent rewrites make the rotary embedding a single complex
        # multiplication: the softmax scaling is folded into the q rows, and within every
        # head the q and k rows are reordered so that the rotated pairs (i, i + head_dim/2)
        # sit next to each other. The same reordering of q and k leaves every q.k unchanged.
        half = self.head_dim // 2
        pair_order = torch.stack([torch.arange(half), torch.arange(half) + half], 1).flatten()
        row_order = (torch.arange(self.heads)[:, None] * self.head_dim + pair_order).flatten()
        scaling = self.head_dim**-0.5
        self.qkv_weights = []
        with torch.no_grad():
            for block in self.model.layers[: self.layer]:
                attn = block.self_attn
                weight = torch.cat(
                    [
                        attn.q_proj.weight[row_order] * scaling,
                        attn.k_proj.weight[row_order],
                        attn.v_proj.weight,
                    ]
                )
                bias = torch.cat(
                    [
                        attn.q_proj.bias[row_order] * scaling,
                        attn.k_proj.bias[row_order],
                        attn.v_proj.bias,
                    ]
                )
                if self.device.type == "cuda" and dtype != torch.float32:
                    # Autocast would re-cast these non-parameter tensors on every call.
                    weight, bias = weight.to(dtype), bias.to(dtype)
                self.qkv_weights.append((weight.contiguous(), bias.contiguous()))
        inv_freq = self.model.layers[0].self_attn.rot_emb.inv_freq if self.num_layers else None
        self.inv_freq = inv_freq.to(self.device) if inv_freq is not None else None
        self.forward_calls = 0

    def tokens(self, residues: Sequence[str]) -> torch.Tensor:
        """BOS + residues + EOS, right-padded, exactly as fair-esm's BatchConverter."""
        alphabet = self.alphabet
        width = max(len(r) for r in residues) + 2
        tokens = torch.full((len(residues), width), alphabet.padding_idx, dtype=torch.int64)
        for row, text in enumerate(residues):
            tokens[row, 0] = alphabet.cls_idx
            tokens[row, 1 : len(text) + 1] = torch.tensor(
                [alphabet.tok_to_idx[c] for c in text], dtype=torch.int64
            )
            tokens[row, len(text) + 1] = alphabet.eos_idx
        return tokens

    def _rotary(self, length: int) -> torch.Tensor:
        """exp(i * position * inv_freq) as complex64, shape (1, tokens, 1, head_dim/2)."""
        positions = torch.arange(length, device=self.device, dtype=self.inv_freq.dtype)
        angles = torch.outer(positions, self.inv_freq)
        return torch.polar(torch.ones_like(angles), angles)[None, :, None, :]

    def _rotate(self, x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        """Rotary embedding of (batch, tokens, heads, head_dim) in pair-adjacent layout."""
        shape = x.shape
        pairs = torch.view_as_complex(x.float().reshape(*shape[:-1], -1, 2))
        return torch.view_as_real(pairs * rotation).reshape(shape).to(x.dtype)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Representation at ``self.layer``, shape (batch, tokens, dim), as fair-esm's ESM2."""
        self.forward_calls += 1
        model = self.model
        tokens = tokens.to(self.device)
        padding = tokens.eq(model.padding_idx)
        x = model.embed_scale * model.embed_tokens(tokens)
        if model.token_dropout:
            # Inference-time rescaling that ESM2 applies (no <mask> tokens in our inputs).
            is_mask = tokens.eq(model.mask_idx)
            x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
            observed = is_mask.sum(-1).to(x.dtype) / (~padding).sum(-1)
            x = x * (1 - 0.15 * 0.8) / (1 - observed)[:, None, None]
        x = x * (1 - padding.unsqueeze(-1).type_as(x))
        if self.layer == 0:
            return x
        batch, length, _ = x.shape
        # SDPA boolean mask: True = may attend. None when nothing is padded (faster kernels).
        attend = (~padding)[:, None, None, :] if padding.any() else None
        rotation = self._rotary(length)
        for block, (qkv_weight, qkv_bias) in zip(
            model.layers[: self.layer], self.qkv_weights, strict=True
        ):
            residual = x
            h = block.self_attn_layer_norm(x)
            qkv = F.linear(h, qkv_weight, qkv_bias).view(batch, length, 3, self.heads, -1)
            q = self._rotate(qkv[:, :, 0], rotation).transpose(1, 2)
            k = self._rotate(qkv[:, :, 1], rotation).transpose(1, 2)
            v = qkv[:, :, 2].transpose(1, 2)
            h = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=1.0)
            h = h.transpose(1, 2).reshape(batch, length, self.embed_dim)
            x = residual + block.self_attn.out_proj(h)
            residual = x
            h = block.final_layer_norm(x)
            h = block.fc2(F.gelu(block.fc1(h)))  # exact (erf) GELU, as fair-esm's gelu()
            x = residual + h
        if self.layer == self.num_layers:
            x = model.emb_layer_norm_after(x)  # fair-esm reports the last layer normalised
        return x


def autocast_context(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)


def masked_means(reps: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    """Mean of ``reps[i, 1 : lengths[i] + 1]`` for every row i (BOS, EOS, padding excluded)."""
    lengths_tensor = torch.tensor(lengths, device=reps.device)
    positions = torch.arange(reps.shape[1], device=reps.device)
    inside = (positions[None, :] >= 1) & (positions[None, :] <= lengths_tensor[:, None])
    sums = torch.bmm(inside.to(reps.dtype).unsqueeze(1), reps).squeeze(1)
    return sums / lengths_tensor[:, None].to(reps.dtype)


def iter_embeddings(
    encoder: Esm2LayerEncoder,
    sequences: Sequence[str],
    settings: EmbedSettings,
    progress: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, float32 embedding)`` for every sequence as soon as it is complete."""
    lengths = [len(s) for s in sequences]
    pieces = plan_pieces(lengths, settings)
    pieces_left = np.bincount([p.sequence_index for p in pieces], minlength=len(sequences))
    # Residue-wise sums and window counts, only for sequences split into several windows.
    partial: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    batches = token_budget_batches([p.length for p in pieces], settings.max_tokens_per_batch)
    bar = _progress_bar(sum(p.length for p in pieces), progress)
    with torch.inference_mode(), autocast_context(encoder.device, encoder.dtype):
        # Longest batches first: the first batch sizes the allocator's buffers and every
        # later one fits in them. In ascending order (fair-esm's) each batch needs larger
        # buffers than all before it and glibc keeps the freed ones as fragments: the demo
        # data then peaked at 1.98 GB instead of 1.0 GB, at the same speed.
        for batch in reversed(batches):
            batch_pieces = [pieces[i] for i in batch]
            residues = [sequences[p.sequence_index][p.start : p.stop] for p in batch_pieces]
            reps = encoder.forward(encoder.tokens(residues)).float()
            # Pool in fp32 (autocast off), all rows at once, one device->host copy per batch.
            with torch.autocast(device_type=encoder.device.type, enabled=False):
                means = masked_means(reps, [p.length for p in batch_pieces]).cpu().numpy()
            for row, piece in enumerate(batch_pieces):
                index = piece.sequence_index
                if pieces_left[index] == 1 and index not in partial:
                    pieces_left[index] = 0
                    yield index, means[row]
                    continue
                if index not in partial:
                    partial[index] = (
                        torch.zeros(lengths[index], reps.shape[-1], device=reps.device),
                        torch.zeros(lengths[index], 1, device=reps.device),
                    )
                window_sums, window_counts = partial[index]
                window_sums[piece.start : piece.stop] += reps[row, 1 : piece.length + 1]
                window_counts[piece.start : piece.stop] += 1
                pieces_left[index] -= 1
                if pieces_left[index] == 0:
                    window_sums, window_counts = partial.pop(index)
                    yield index, (window_sums / window_counts).mean(0).cpu().numpy()
            bar.update(sum(p.length for p in batch_pieces))
    bar.close()


def _progress_bar(total_residues: int, enabled: bool):
    from tqdm import tqdm

    # Rule logs are files: a new line every 30 s rather than a redrawn terminal bar.
    return tqdm(
        total=total_residues,
        unit="res",
        unit_scale=True,
        disable=not enabled,
        mininterval=30,
        desc="embedding",
    )


def reference_mean_embeddings(
    model: torch.nn.Module,
    alphabet,
    sequences: Iterable[str],
    layer: int,
    toks_per_batch: int = 4096,
    truncation_seq_length: int = MAX_RESIDUES_PER_WINDOW,
) -> np.ndarray:
    """fair-esm's ``scripts/extract.py --include mean`` loop, with fair-esm's own API.

    Kept here (not only in tests) so the benchmark and tests compare against one reference.
    """
    from esm.data import FastaBatchedDataset

    sequences = list(sequences)
    dataset = FastaBatchedDataset([str(i) for i in range(len(sequences))], sequences)
    batches = dataset.get_batch_indices(toks_per_batch, extra_toks_per_seq=1)
    loader = torch.utils.data.DataLoader(
        dataset,
        collate_fn=alphabet.get_batch_converter(truncation_seq_length),
        batch_sampler=batches,
    )
    repr_layer = resolve_layer(layer, model.num_layers)
    device = next(model.parameters()).device
    out = np.zeros((len(sequences), model.embed_dim), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for labels, strs, toks in loader:
            toks = toks.to(device, non_blocking=True)
            result = model(toks, repr_layers=[repr_layer], return_contacts=False)
            representations = result["representations"][repr_layer]
            for i, label in enumerate(labels):
                truncate_len = min(truncation_seq_length, len(strs[i]))
                mean = representations[i, 1 : truncate_len + 1].mean(0)
                out[int(label)] = mean.float().cpu().numpy()
    return out


def cache_identity(model_name: str, weights_sha256: str, layer: int, settings, dtype) -> dict:
    """Everything besides the sequence that determines an embedding's numbers."""
    return {
        "model": model_name,
        "weights_sha256": weights_sha256,
        "layer": int(layer),
        "pooling": POOLING,
        "long_sequences": settings.long_sequences,
        "window_residues": settings.window_residues,
        "window_overlap": settings.window_overlap,
        "precision": str(dtype).removeprefix("torch."),
    }


def embed_with_cache(encoder, sequences: Sequence[str], settings, cache, progress=False):
    """(n, dim) embeddings; cached ones are read, only the others go through the model.

    Each new embedding is handed to the cache as soon as it is complete, so an
    interrupted run loses at most the cache's unflushed buffer.
    """
    from terpene_ensembles.io_utils import sha256_text

    hashes = [sha256_text(seq) for seq in sequences]
    cached = cache.lookup(hashes)
    todo: dict[str, str] = {}
    for digest, seq in zip(hashes, sequences, strict=True):
        if digest not in cached:
            todo.setdefault(digest, seq)
    log.info("%d sequences: %d from cache, %d to embed", len(set(hashes)), len(cached), len(todo))
    todo_hashes = list(todo)
    computed: dict[str, np.ndarray] = {}
    for index, vector in iter_embeddings(encoder, list(todo.values()), settings, progress):
        computed[todo_hashes[index]] = vector
        cache.add(todo_hashes[index], vector)
    cache.flush()
    out = np.zeros((len(sequences), encoder.embed_dim), dtype=np.float32)
    for row, digest in enumerate(hashes):
        vector = computed[digest] if digest in computed else cached[digest]
        if vector.shape != (encoder.embed_dim,):
            raise ValueError(f"cached embedding of {digest} has shape {vector.shape}")
        out[row] = vector
    return out, len(todo)


class Embedder:
    """Configured ESM2 embedding: model, settings, cache identity and file metadata.

    The one entry point other stages need (``embed``, ``predict``)::

        embedder = Embedder.from_config(config["plm"], threads=2)
        matrix = embedder.embed(sequences, cache_dir="resources/embedding_cache")
    """

    def __init__(self, loaded, settings: EmbedSettings, threads: int | None = None):
        self.loaded = loaded
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = resolve_precision(settings.precision, self.device)
        if self.device.type == "cpu":
            configure_cpu_threads(threads)
        self.encoder = Esm2LayerEncoder(
            loaded.model, loaded.alphabet, settings.layer, self.device, self.dtype
        )
        self.layer = self.encoder.layer
        self.last_computed = 0

    @classmethod
    def from_config(cls, plm: dict | PlmConfig, threads: int | None = None) -> Embedder:
        from terpene_ensembles.embed.esm_weights import load_esm

        plm = PlmConfig.from_config(plm)
        loaded = load_esm(plm.model, plm.checkpoint)
        return cls(loaded, EmbedSettings.from_config(plm), threads)

    @property
    def dim(self) -> int:
        return self.encoder.embed_dim

    def cache_identity(self) -> dict:
        return cache_identity(
            self.loaded.model_name,
            self.loaded.weights_sha256,
            self.layer,
            self.settings,
            self.dtype,
        )

    def metadata(self) -> dict[str, str]:
        """Parquet key-value metadata describing how the embeddings were made."""
        import esm

        identity = self.cache_identity()
        return {
            "model": self.loaded.model_name,
            "layer": str(self.layer),
            "pooling": POOLING,
            "weights_path": str(self.loaded.weights_path),
            "weights_sha256": self.loaded.weights_sha256,
            "random_weights": "true" if self.loaded.random_weights else "false",
            "torch_version": torch.__version__,
            "fair_esm_version": esm.__version__,
            "long_sequences": self.settings.long_sequences,
            "window_residues": str(self.settings.window_residues),
            "window_overlap": str(self.settings.window_overlap),
            "precision": identity["precision"],
            "embedding_dim": str(self.dim),
            "device": self.device.type,
        }

    def embed(
        self,
        sequences: Sequence[str],
        cache_dir=None,
        progress: bool = True,
        ids: Sequence[str] | None = None,
        flush_every: int = 64,
    ) -> np.ndarray:
        """(n, dim) float32 embeddings in input order; cached ones are not recomputed.

        New embeddings reach the cache every ``flush_every`` sequences (and every minute),
        which bounds the work an interrupted run loses.
        """
        from terpene_ensembles.embed.embedding_cache import EmbeddingCache, NullCache

        if ids is None:
            ids = [f"sequence #{i + 1}" for i in range(len(sequences))]
        validate_sequences(ids, sequences, self.loaded.alphabet)
        cache = (
            EmbeddingCache(cache_dir, self.cache_identity(), flush_every=flush_every)
            if cache_dir
            else NullCache()
        )
        matrix, self.last_computed = embed_with_cache(
            self.encoder, sequences, self.settings, cache, progress
        )
        return matrix
