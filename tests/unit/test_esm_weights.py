"""Weights loading: hub cache by name, local path, clear errors, random checkpoints."""

import argparse

import pytest
import torch

from terpene_ensembles.embed.esm_weights import (
    FAIR_ESM_MODEL_URL,
    WeightsNotFoundError,
    build_random_esm2,
    hub_checkpoint_path,
    load_esm,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from terpene_ensembles.io_utils import sha256_file

TINY = dict(layers=2, embed_dim=32, heads=4)


class NotAllowListed:
    """A pickled object of a class torch.load(weights_only=True) must not construct."""


@pytest.fixture()
def tiny_checkpoint(tmp_path):
    path = tmp_path / "tiny.pt"
    save_checkpoint(build_random_esm2(**TINY, seed=3), path)
    return path


def test_random_checkpoint_has_fair_esm_layout(tiny_checkpoint):
    data = read_checkpoint(tiny_checkpoint)
    assert data["random_weights"] is True
    assert isinstance(data["cfg"]["model"], argparse.Namespace)
    assert data["cfg"]["model"].encoder_layers == 2
    assert all(key.startswith("encoder.") for key in data["model"])
    assert "encoder.layers.1.fc2.weight" in data["model"]


def test_load_from_local_path_keeps_weights_and_marks_random(tiny_checkpoint):
    loaded = load_esm("esm2_t2_tiny", tiny_checkpoint)
    assert loaded.random_weights is True
    assert loaded.weights_path == tiny_checkpoint
    assert loaded.weights_sha256 == sha256_file(tiny_checkpoint)
    stored = read_checkpoint(tiny_checkpoint)["model"]
    state = loaded.model.state_dict()
    assert torch.equal(
        state["layers.0.self_attn.q_proj.weight"],
        stored["encoder.layers.0.self_attn.q_proj.weight"],
    )
    assert torch.equal(state["embed_tokens.weight"], stored["encoder.embed_tokens.weight"])
    assert not loaded.model.training


def test_load_by_name_from_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "esm2_t2_tiny.pt"
    assert hub_checkpoint_path("esm2_t2_tiny") == expected
    save_checkpoint(build_random_esm2(**TINY, seed=0), expected)
    loaded = load_esm("esm2_t2_tiny")
    assert loaded.weights_path == expected
    assert loaded.model.num_layers == 2


def test_missing_hub_file_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFoundError) as error:
        resolve_checkpoint("esm2_t33_650M_UR50D")
    message = str(error.value)
    assert str(tmp_path / "empty" / "hub" / "checkpoints" / "esm2_t33_650M_UR50D.pt") in message
    assert FAIR_ESM_MODEL_URL.format(name="esm2_t33_650M_UR50D") in message
    assert "TORCH_HOME" in message
    assert "plm.checkpoint" in message
    assert "plm.enabled: false" in message


def test_missing_local_checkpoint_names_the_setting(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="plm.checkpoint = .*nowhere.pt"):
        load_esm("esm2_t6_8M_UR50D", tmp_path / "nowhere.pt")


def test_architecture_mismatch_is_an_error(tiny_checkpoint):
    with pytest.raises(ValueError, match="expects"):
        load_esm("esm2_t6_8M_UR50D", tiny_checkpoint)


def test_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    torch.save({"weights": torch.zeros(2)}, junk)
    with pytest.raises(ValueError, match="not a fair-esm checkpoint"):
        load_esm("esm2_t2_tiny", junk)
    text = tmp_path / "text.pt"
    text.write_text("not a zip file")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_esm("esm2_t2_tiny", text)


def test_checkpoint_needing_arbitrary_pickles_is_refused(tmp_path):
    data = build_random_esm2(**TINY, seed=0)
    data["extra"] = NotAllowListed()
    path = tmp_path / "unsafe.pt"
    torch.save(data, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        read_checkpoint(path)


def test_make_random_esm_script_is_deterministic(tmp_path):
    import make_random_esm

    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    make_random_esm.main(["--arch", "esm2_t6_8M_UR50D", "--seed", "0", "--output", str(first)])
    make_random_esm.main(["--arch", "esm2_t6_8M_UR50D", "--seed", "0", "--output", str(second)])
    a, b = read_checkpoint(first), read_checkpoint(second)
    assert a["arch"] == "esm2_t6_8M_UR50D" and a["random_weights"] is True
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # byte for byte too: the weights' sha256 is part of the run's provenance
    assert sha256_file(first) == sha256_file(second)
    loaded = load_esm("esm2_t6_8M_UR50D", first)
    assert (loaded.model.num_layers, loaded.model.embed_dim) == (6, 320)
    assert loaded.model.attention_heads == 20
