"""Embedding stage: equal to fair-esm's reference extraction, windows, batching, shards."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from terpene_ensembles.embed.embedding import (
    Embedder,
    EmbedSettings,
    Esm2LayerEncoder,
    iter_embeddings,
    plan_pieces,
    reference_mean_embeddings,
    token_budget_batches,
    validate_sequences,
    window_starts,
)
from terpene_ensembles.embed.embedding_files import (
    assign_shards,
    parse_scatteritem,
    read_embeddings,
)
from terpene_ensembles.embed.esm_weights import build_random_esm2, load_esm, save_checkpoint
from terpene_ensembles.io_utils import sha256_text

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
TOLERANCE = 1e-4  # fp32 against the reference implementation


def embed_sequences(encoder, sequences, settings):
    """All embeddings as one (n, dim) array, in input order."""
    out = np.zeros((len(sequences), encoder.embed_dim), dtype=np.float32)
    for index, vector in iter_embeddings(encoder, sequences, settings, False):
        out[index] = vector
    return out


def random_sequences(count, low, high, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(AMINO_ACIDS), rng.integers(low, high))) for _ in range(count)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("esm") / "tiny.pt"
    save_checkpoint(build_random_esm2(layers=3, embed_dim=64, heads=4, seed=7), path)
    return path


@pytest.fixture(scope="module")
def loaded(tiny):
    return load_esm("esm2_t3_tiny", tiny)


@pytest.fixture(scope="module")
def sequences():
    # Lengths vary so batches are padded; "X" and rare letters are valid ESM tokens.
    return random_sequences(23, 5, 70, seed=1) + ["MKXLLV", "BZUOAC" * 3]


def encoder_for(loaded, layer=-1):
    return Esm2LayerEncoder(loaded.model, loaded.alphabet, layer, "cpu", torch.float32)


@pytest.mark.parametrize("layer", [-1, 2, 0])
def test_equals_fair_esm_reference_extraction(loaded, sequences, layer):
    reference = reference_mean_embeddings(
        loaded.model, loaded.alphabet, sequences, layer, toks_per_batch=200
    )
    settings = EmbedSettings(layer=layer, max_tokens_per_batch=150)
    ours = embed_sequences(encoder_for(loaded, layer), sequences, settings)
    assert ours.shape == (len(sequences), 64)
    assert np.abs(ours - reference).max() <= TOLERANCE
    assert np.abs(ours).max() > 0.1  # not trivially zero


def test_reference_loop_equals_unbatched_model_calls(loaded, sequences):
    """Guard the reference itself: batching and padding do not change fair-esm's numbers."""
    reference = reference_mean_embeddings(loaded.model, loaded.alphabet, sequences[:6], -1)
    converter = loaded.alphabet.get_batch_converter()
    for row, sequence in enumerate(sequences[:6]):
        _, _, tokens = converter([("s", sequence)])
        with torch.no_grad():
            reps = loaded.model(tokens, repr_layers=[3])["representations"][3]
        single = reps[0, 1 : len(sequence) + 1].mean(0).numpy()
        assert np.abs(single - reference[row]).max() <= TOLERANCE


def test_result_does_not_depend_on_batching(loaded, sequences):
    small = embed_sequences(encoder_for(loaded), sequences, EmbedSettings(max_tokens_per_batch=80))
    large = embed_sequences(
        encoder_for(loaded), sequences, EmbedSettings(max_tokens_per_batch=2000)
    )
    assert np.abs(small - large).max() <= TOLERANCE


def manual_window_embedding(loaded, sequence, window, overlap):
    """Residue-wise average over overlapping windows, written with fair-esm's model directly."""
    converter = loaded.alphabet.get_batch_converter()
    sums = torch.zeros(len(sequence), 64)
    counts = torch.zeros(len(sequence), 1)
    step = window - overlap
    starts = list(range(0, len(sequence) - window, step)) + [len(sequence) - window]
    for start in starts:
        _, _, tokens = converter([("w", sequence[start : start + window])])
        with torch.no_grad():
            reps = loaded.model(tokens, repr_layers=[3])["representations"][3]
        sums[start : start + window] += reps[0, 1 : window + 1]
        counts[start : start + window] += 1
    assert counts.min() >= 1
    return (sums / counts).mean(0).numpy()


def test_long_sequences_use_overlapping_windows(loaded, sequences):
    long_ones = random_sequences(3, 41, 90, seed=5)
    short_ones = [s for s in sequences if len(s) <= 20][:4]
    assert len(short_ones) == 4
    mixed = short_ones + long_ones
    settings = EmbedSettings(window_residues=20, window_overlap=5, max_tokens_per_batch=100)
    ours = embed_sequences(encoder_for(loaded), mixed, settings)
    for row, sequence in enumerate(long_ones, start=4):
        expected = manual_window_embedding(loaded, sequence, 20, 5)
        assert np.abs(ours[row] - expected).max() <= TOLERANCE
    # Short sequences are unaffected by the window machinery of their batch mates.
    short = reference_mean_embeddings(loaded.model, loaded.alphabet, short_ones, -1)
    assert np.abs(ours[:4] - short).max() <= TOLERANCE


def test_truncate_option_matches_extract_py_truncation(loaded):
    long_ones = random_sequences(3, 30, 60, seed=9)
    settings = EmbedSettings(window_residues=20, window_overlap=5, long_sequences="truncate")
    ours = embed_sequences(encoder_for(loaded), long_ones, settings)
    reference = reference_mean_embeddings(
        loaded.model, loaded.alphabet, long_ones, -1, truncation_seq_length=20
    )
    assert np.abs(ours - reference).max() <= TOLERANCE
    windowed = embed_sequences(
        encoder_for(loaded), long_ones, EmbedSettings(window_residues=20, window_overlap=5)
    )
    assert np.abs(ours - windowed).max() > 1e-3  # the two modes really differ


def test_window_starts_cover_and_end_align():
    assert window_starts(1744, 1022, 256) == [0, 722]
    assert window_starts(1022, 1022, 256) == [0]
    assert window_starts(2500, 1022, 256) == [0, 766, 1478]
    for length in (23, 40, 41, 77):
        starts = window_starts(length, 20, 5)
        assert starts[0] == 0 and starts[-1] == length - 20
        assert all(b - a <= 15 for a, b in zip(starts, starts[1:], strict=False))
    pieces = plan_pieces([10, 47], EmbedSettings(window_residues=20, window_overlap=5))
    assert [(p.sequence_index, p.start, p.stop) for p in pieces] == [
        (0, 0, 10),
        (1, 0, 20),
        (1, 15, 35),
        (1, 27, 47),
    ]


def test_token_budget_batches_match_fair_esm(sequences):
    from esm.data import FastaBatchedDataset

    dataset = FastaBatchedDataset([str(i) for i in range(len(sequences))], sequences)
    for budget in (60, 150, 1000):
        expected = dataset.get_batch_indices(budget, extra_toks_per_seq=2)
        assert token_budget_batches([len(s) for s in sequences], budget) == expected


def test_longest_batches_run_first(loaded, sequences):
    """The first batch sizes the allocator's buffers (later ones reuse them): the embedding
    order is the token-budget batches from last to first, results as in input order."""
    settings = EmbedSettings(max_tokens_per_batch=150)
    order = [index for index, _ in iter_embeddings(encoder_for(loaded), sequences, settings, False)]
    batches = token_budget_batches([len(s) for s in sequences], 150)
    assert len(batches) > 2
    assert order == [index for batch in reversed(batches) for index in batch]
    first_batch = order[: len(batches[-1])]
    assert max(len(sequences[i]) for i in first_batch) == max(len(s) for s in sequences)


def test_invalid_residues_are_named(loaded):
    with pytest.raises(ValueError, match="bad_one: 1J"):
        validate_sequences(["ok", "bad_one"], ["MKV", "MJK1"], loaded.alphabet)
    with pytest.raises(ValueError, match="empty"):
        validate_sequences(["e"], [""], loaded.alphabet)


def test_shard_assignment_is_deterministic_balanced_and_order_free():
    seqs = random_sequences(40, 20, 400, seed=2)
    hashes = [sha256_text(s) for s in seqs]
    lengths = [len(s) for s in seqs]
    first = assign_shards(hashes, lengths, 3)
    assert first == assign_shards(hashes, lengths, 3)
    reversed_assignment = assign_shards(hashes[::-1], lengths[::-1], 3)
    assert reversed_assignment[::-1] == first
    loads = [
        sum(length for length, s in zip(lengths, first, strict=True) if s == k) for k in range(3)
    ]
    assert max(loads) - min(loads) <= max(lengths)
    assert set(first) == {0, 1, 2}
    assert parse_scatteritem("2-of-5") == (1, 5)
    for bad in ("0-of-2", "3-of-2", "two"):
        with pytest.raises(ValueError):
            parse_scatteritem(bad)


def test_embedder_metadata_and_layer(tiny):
    plm = {"model": "esm2_t3_tiny", "checkpoint": str(tiny), "layer": -1, "device": "cpu"}
    embedder = Embedder.from_config(plm, threads=1)
    meta = embedder.metadata()
    assert meta["random_weights"] == "true"
    assert meta["layer"] == "3" and meta["pooling"] == "mean"
    assert meta["fair_esm_version"] == "2.0.0"
    assert meta["torch_version"] == torch.__version__
    assert meta["precision"] == "float32"
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        Embedder.from_config({**plm, "precision": "fp16"})


def write_enzymes(path, sequences):
    ids = [f"enz_{i:03d}" for i in range(len(sequences))]
    frame = pd.DataFrame(
        {"id": ids, "sequence": sequences, "sequence_sha256": [sha256_text(s) for s in sequences]}
    )
    frame.to_parquet(path, index=False)
    return ids


def run_stage(tmp_path, enzymes, tiny, shards, cache_dir, name):
    import embed
    import embed_gather

    settings = json.dumps(
        {
            "model": "esm2_t3_tiny",
            "checkpoint": str(tiny),
            "layer": -1,
            "long_sequences": "windows",
            "window_overlap": 256,
            "max_tokens_per_batch": 1024,
            "precision": "auto",
            "device": "cpu",
        }
    )
    outputs = []
    for number in range(1, shards + 1):
        output = tmp_path / name / f"{number}-of-{shards}.parquet"
        embed.main(
            [
                "--enzymes",
                str(enzymes),
                "--shard",
                f"{number}-of-{shards}",
                "--settings",
                settings,
                "--cache-dir",
                str(cache_dir),
                "--threads",
                "1",
                "--output",
                str(output),
            ]
        )
        outputs.append(str(output))
    gathered = tmp_path / f"{name}.parquet"
    embed_gather.main(["--enzymes", str(enzymes), "--shards", *outputs, "--output", str(gathered)])
    return gathered, outputs


def test_sharded_stage_equals_single_job_in_enzyme_order(tmp_path, tiny, loaded, sequences):
    enzymes = tmp_path / "enzymes.parquet"
    ids = write_enzymes(enzymes, sequences)
    single, _ = run_stage(tmp_path, enzymes, tiny, 1, tmp_path / "cache_a", "single")
    sharded, shard_files = run_stage(tmp_path, enzymes, tiny, 3, tmp_path / "cache_b", "sharded")
    ids_1, matrix_1, meta_1 = read_embeddings(single)
    ids_3, matrix_3, meta_3 = read_embeddings(sharded)
    assert ids_1 == ids_3 == ids
    # Shards batch differently, so only float rounding may differ.
    assert np.abs(matrix_1 - matrix_3).max() <= 1e-5
    reference = reference_mean_embeddings(loaded.model, loaded.alphabet, sequences, -1)
    assert np.abs(matrix_3 - reference).max() <= TOLERANCE
    for key in (
        "model",
        "layer",
        "pooling",
        "weights_path",
        "weights_sha256",
        "torch_version",
        "fair_esm_version",
        "random_weights",
    ):
        assert key in meta_3
    assert meta_3["random_weights"] == "true" and meta_3["shards"] == "3"
    schema = pq.read_schema(sharded)
    embedding_type = schema.field("embedding").type
    assert pa.types.is_list(embedding_type) and embedding_type.value_type == pa.float32()
    assert schema.names == ["id", "sequence_sha256", "model", "layer", "embedding"]
    table = pq.read_table(sharded).to_pandas()
    assert (table["sequence_sha256"] == [sha256_text(s) for s in sequences]).all()
    assert (table["model"] == "esm2_t3_tiny").all() and (table["layer"] == 3).all()
    shard_sizes = [pq.read_metadata(path).num_rows for path in shard_files]
    assert sum(shard_sizes) == len(sequences) and min(shard_sizes) > 0


def test_gather_refuses_missing_or_mixed_shards(tmp_path, tiny, sequences):
    import embed_gather

    enzymes = tmp_path / "enzymes.parquet"
    write_enzymes(enzymes, sequences)
    _, shard_files = run_stage(tmp_path, enzymes, tiny, 2, tmp_path / "cache", "parts")
    with pytest.raises(ValueError, match="no embedding in any shard"):
        embed_gather.gather(enzymes, shard_files[:1])
    with pytest.raises(ValueError, match="more than one shard"):
        embed_gather.gather(enzymes, [shard_files[0], shard_files[0], shard_files[1]])


def test_stage_rejects_stale_sequence_hash(tmp_path, tiny):
    import embed

    enzymes = tmp_path / "enzymes.parquet"
    pd.DataFrame({"id": ["a"], "sequence": ["MKV"], "sequence_sha256": ["0" * 64]}).to_parquet(
        enzymes
    )
    with pytest.raises(ValueError, match="does not match"):
        embed.read_enzymes(enzymes)
