"""Locate, load and build ESM2 checkpoints in fair-esm's own format.

fair-esm 2.0.0's loaders call ``torch.load`` without ``weights_only``; under torch >= 2.6 the
default became ``weights_only=True`` and they fail on the ``argparse.Namespace`` stored in
every ESM checkpoint. We therefore read the checkpoint dict ourselves with
``weights_only=True`` (no arbitrary unpickling), allow-listing only ``argparse.Namespace``,
and hand the dict to ``esm.pretrained.load_model_and_alphabet_core``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import sha256_file

FAIR_ESM_MODEL_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"

# ESM2 architectures released with fair-esm: (layers, embedding dim, attention heads).
ESM2_ARCHITECTURES: dict[str, tuple[int, int, int]] = {
    "esm2_t6_8M_UR50D": (6, 320, 20),
    "esm2_t12_35M_UR50D": (12, 480, 20),
    "esm2_t30_150M_UR50D": (30, 640, 20),
    "esm2_t33_650M_UR50D": (33, 1280, 20),
    "esm2_t36_3B_UR50D": (36, 2560, 40),
    "esm2_t48_15B_UR50D": (48, 5120, 40),
}

# Key of the marker that make_random_esm.py stores in the checkpoint dict.
RANDOM_WEIGHTS_KEY = "random_weights"


class WeightsNotFoundError(UserInputError, FileNotFoundError):
    """No checkpoint file where the configuration says to look."""


class CheckpointError(UserInputError, ValueError):
    """A checkpoint file that is not the ESM2 the configuration names."""

    fix = "point plm.checkpoint at a fair-esm ESM2 checkpoint of the architecture plm.model names"


@dataclass(frozen=True)
class LoadedEsm:
    """An ESM2 model ready for inference plus what identifies its weights."""

    model: torch.nn.Module
    alphabet: object
    model_name: str
    weights_path: Path
    weights_sha256: str
    random_weights: bool


def hub_checkpoint_path(model_name: str) -> Path:
    """Where fair-esm's hub loader keeps ``<model_name>.pt`` ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / f"{model_name}.pt"


def resolve_checkpoint(model_name: str, checkpoint: str | os.PathLike | None = None) -> Path:
    """Return the checkpoint file to load, or raise a message that says how to supply one."""
    candidate = Path(checkpoint) if checkpoint else hub_checkpoint_path(model_name)
    if candidate.is_file():
        return candidate
    if checkpoint:
        where = f"plm.checkpoint = {checkpoint!s} (resolved to {candidate.resolve()})"
    else:
        where = f"the torch hub cache: {candidate}"
    raise WeightsNotFoundError(
        f"ESM2 weights for {model_name!r} not found; looked in {where}.\n"
        "Supply them in one of these ways:\n"
        f"  - download {FAIR_ESM_MODEL_URL.format(name=model_name)} into "
        f"{hub_checkpoint_path(model_name).parent} (set TORCH_HOME to use another cache root);\n"
        "  - set plm.checkpoint to a local fair-esm checkpoint file (.pt);\n"
        "  - for an offline demo, build random weights with "
        f"`python workflow/scripts/make_random_esm.py --arch {model_name} --seed 0 "
        "--output resources/esm/random_<arch>.pt` and point plm.checkpoint at it;\n"
        "  - or run without a protein language model: plm.enabled: false."
    )


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a fair-esm checkpoint dict with ``weights_only=True``."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises UnpicklingError or RuntimeError here
            raise CheckpointError(
                f"Could not read {path} as a fair-esm checkpoint with weights_only=True: {error}"
            ) from error
    if not isinstance(data, dict) or "model" not in data:
        raise CheckpointError(f"{path} is not a fair-esm checkpoint (no 'model' state dict)")
    return data


def esm2_config(data: dict, path: str | os.PathLike) -> argparse.Namespace:
    try:
        cfg = data["cfg"]["model"]
        _ = (cfg.encoder_layers, cfg.encoder_embed_dim, cfg.encoder_attention_heads)
    except (KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(
            f"{path} lacks the ESM2 architecture entry cfg['model'] "
            "(encoder_layers, encoder_embed_dim, encoder_attention_heads)"
        ) from error
    return cfg


def load_esm(
    model_name: str, checkpoint: str | os.PathLike | None = None, device: str = "cpu"
) -> LoadedEsm:
    """Load an ESM2 model by name (torch hub cache) or from a local checkpoint path.

    Contact-regression weights are not needed for embeddings and are not loaded.
    """
    import esm

    path = resolve_checkpoint(model_name, checkpoint)
    data = read_checkpoint(path)
    cfg = esm2_config(data, path)
    expected = ESM2_ARCHITECTURES.get(model_name)
    found = (cfg.encoder_layers, cfg.encoder_embed_dim, cfg.encoder_attention_heads)
    if expected is not None and expected != found:
        raise CheckpointError(
            f"{path} holds an ESM2 with (layers, dim, heads) = {found}, "
            f"but plm.model = {model_name} expects {expected}"
        )
    random_weights = bool(data.get(RANDOM_WEIGHTS_KEY, False))
    # fair-esm picks the ESM2 code path by the name prefix, so always pass an esm2 name.
    model, alphabet = esm.pretrained.load_model_and_alphabet_core(model_name, data, None)
    model = model.eval().to(device)
    return LoadedEsm(
        model=model,
        alphabet=alphabet,
        model_name=model_name,
        weights_path=path,
        weights_sha256=sha256_file(path),
        random_weights=random_weights,
    )


def build_random_esm2(
    layers: int, embed_dim: int, heads: int, seed: int, token_dropout: bool = True
) -> dict:
    """A random-weight ESM2 as a fair-esm checkpoint dict (what the hub files contain).

    The state dict keys carry the ``encoder.`` prefix that fair-esm strips when loading,
    and the dict is marked ``random_weights: True`` so later stages can say so.
    """
    import esm

    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(
        num_layers=layers,
        embed_dim=embed_dim,
        attention_heads=heads,
        alphabet=alphabet,
        token_dropout=token_dropout,
    )
    state = {f"encoder.{name}": tensor.clone() for name, tensor in model.state_dict().items()}
    cfg = argparse.Namespace(
        encoder_layers=layers,
        encoder_embed_dim=embed_dim,
        encoder_ffn_embed_dim=4 * embed_dim,
        encoder_attention_heads=heads,
        token_dropout=token_dropout,
    )
    return {
        "model": state,
        "cfg": {"model": cfg},
        RANDOM_WEIGHTS_KEY: True,
        "seed": seed,
    }


def save_checkpoint(data: dict, output: str | os.PathLike) -> None:
    from terpene_ensembles.io_utils import atomic_path

    # Saved through a file object: torch.save names the archive's records after a file
    # name (here the random temporary one), so the bytes would differ between runs.
    with atomic_path(output) as tmp, open(tmp, "wb") as handle:
        torch.save(data, handle)
