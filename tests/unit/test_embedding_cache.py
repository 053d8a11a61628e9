"""Content-addressed embedding cache: reuse, incremental runs, resume after a crash."""

import numpy as np
import pyarrow as pa
import pytest

from terpene_ensembles.embed.embedding import Embedder, EmbedSettings
from terpene_ensembles.embed.embedding_cache import (
    EmbeddingCache,
    list_column_to_matrix,
    matrix_to_list_array,
    namespace_key,
)
from terpene_ensembles.embed.esm_weights import build_random_esm2, load_esm, save_checkpoint
from terpene_ensembles.io_utils import sha256_text

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
IDENTITY = {"model": "m", "weights_sha256": "abc", "layer": 3, "pooling": "mean"}


def random_sequences(count, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(AMINO_ACIDS), rng.integers(8, 40))) for _ in range(count)]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    path = tmp_path_factory.mktemp("esm") / "tiny.pt"
    save_checkpoint(build_random_esm2(layers=2, embed_dim=32, heads=4, seed=11), path)
    return load_esm("esm2_t2_tiny", path)


class CountingEmbedder(Embedder):
    """Counts the sequences that actually go through the model."""

    def __init__(self, loaded, settings=None, fail_after_batches=None):
        super().__init__(loaded, settings or EmbedSettings(max_tokens_per_batch=100), threads=1)
        self.embedded = []
        original = self.encoder.forward
        tokens_to_residues = self.encoder.tokens

        def tokens(residues):
            self.embedded.extend(residues)
            return tokens_to_residues(residues)

        def forward(batch):
            if fail_after_batches is not None and self.encoder.forward_calls >= fail_after_batches:
                raise KeyboardInterrupt("simulated kill")
            return original(batch)

        self.encoder.tokens = tokens
        self.encoder.forward = forward


def test_rerun_with_added_sequences_embeds_only_new_ones(tmp_path, loaded):
    first = random_sequences(6, seed=1)
    added = random_sequences(3, seed=2)
    embedder = CountingEmbedder(loaded)
    before = embedder.embed(first, cache_dir=tmp_path, progress=False)
    assert sorted(embedder.embedded) == sorted(first)

    again = CountingEmbedder(loaded)
    after = again.embed(first + added, cache_dir=tmp_path, progress=False)
    assert sorted(again.embedded) == sorted(added)
    assert again.last_computed == 3
    np.testing.assert_array_equal(after[:6], before)

    uncached = CountingEmbedder(loaded).embed(first + added, cache_dir=None, progress=False)
    np.testing.assert_allclose(after, uncached, atol=1e-5)

    third = CountingEmbedder(loaded)
    third.embed(list(reversed(first + added)), cache_dir=tmp_path, progress=False)
    assert third.embedded == [] and third.encoder.forward_calls == 0


def test_killed_run_resumes_without_recomputing_finished_batches(tmp_path, loaded):
    sequences = random_sequences(12, seed=3)
    crashing = CountingEmbedder(loaded, fail_after_batches=2)
    with pytest.raises(KeyboardInterrupt):
        crashing.embed(sequences, cache_dir=tmp_path, progress=False, flush_every=1)
    survived = EmbeddingCache(tmp_path, crashing.cache_identity()).lookup(
        sha256_text(s) for s in sequences
    )
    assert 0 < len(survived) < len(sequences)

    resumed = CountingEmbedder(loaded)
    result = resumed.embed(sequences, cache_dir=tmp_path, progress=False)
    assert sorted(resumed.embedded) == sorted(
        s for s in sequences if sha256_text(s) not in survived
    )
    complete = CountingEmbedder(loaded).embed(sequences, cache_dir=None, progress=False)
    np.testing.assert_allclose(result, complete, atol=1e-5)


def test_settings_that_change_numbers_use_another_namespace(tmp_path, loaded):
    sequences = random_sequences(4, seed=4)
    CountingEmbedder(loaded).embed(sequences, cache_dir=tmp_path, progress=False)
    other_layer = CountingEmbedder(loaded, EmbedSettings(layer=1))
    other_layer.embed(sequences, cache_dir=tmp_path, progress=False)
    assert sorted(other_layer.embedded) == sorted(sequences)
    truncate = CountingEmbedder(loaded, EmbedSettings(long_sequences="truncate"))
    assert truncate.cache_identity() != CountingEmbedder(loaded).cache_identity()


def test_cache_roundtrip_and_partial_files_are_ignored(tmp_path):
    cache = EmbeddingCache(tmp_path, IDENTITY, flush_every=2)
    vectors = {f"h{i}": np.arange(4, dtype=np.float32) + i for i in range(5)}
    for digest, vector in vectors.items():
        cache.add(digest, vector)
    assert cache.chunks_written == 2  # the fifth entry is still buffered
    assert set(cache.lookup(vectors)) == set(vectors)  # buffered ones are visible too
    cache.flush()
    (cache.directory / ".chunk-x.parquet.123.tmp").write_bytes(b"half written")
    fresh = EmbeddingCache(tmp_path, IDENTITY)
    found = fresh.lookup(["h0", "h4", "missing"])
    assert set(found) == {"h0", "h4"}
    np.testing.assert_array_equal(found["h4"], vectors["h4"])
    assert (cache.directory / "namespace.json").is_file()


def test_chunk_from_another_namespace_is_an_error(tmp_path):
    cache = EmbeddingCache(tmp_path, IDENTITY)
    cache.add("h", np.ones(3, dtype=np.float32))
    written = cache.flush()
    other = EmbeddingCache(tmp_path, {**IDENTITY, "layer": 2})
    other.directory.mkdir(parents=True)
    (other.directory / written.name).write_bytes(written.read_bytes())
    with pytest.raises(ValueError, match="belongs to namespace"):
        other.lookup(["h"])


def test_identity_must_name_model_weights_layer_pooling(tmp_path):
    with pytest.raises(ValueError, match="weights_sha256"):
        EmbeddingCache(tmp_path, {"model": "m", "layer": 1, "pooling": "mean"})
    assert namespace_key(IDENTITY) == namespace_key(dict(reversed(list(IDENTITY.items()))))
    assert namespace_key(IDENTITY) != namespace_key({**IDENTITY, "weights_sha256": "abd"})


def test_matrix_list_column_roundtrip():
    matrix = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    column = matrix_to_list_array(matrix)
    assert column.type.value_type == pa.float32()
    np.testing.assert_array_equal(list_column_to_matrix(pa.chunked_array([column])), matrix)
    ragged = pa.array([[1.0, 2.0], [3.0]], pa.list_(pa.float32()))
    with pytest.raises(ValueError, match="differ in length"):
        list_column_to_matrix(ragged)
