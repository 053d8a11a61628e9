"""Plain payloads on disk: ``torch.save`` of python values and tensors only, so that a model
loads with ``torch.load(..., weights_only=True)`` (no pickled objects)."""

from __future__ import annotations

import numpy as np
import torch

from terpene_ensembles.io_utils import atomic_path


def to_plain(obj):
    """numpy arrays -> tensors, numpy scalars -> python, recursively (weights_only-safe)."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "US":
            return [str(v) for v in obj]
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_plain(obj):
    """tensors -> numpy arrays, recursively; state dicts are left as tensors."""
    if isinstance(obj, dict):
        return {k: (v if k == "state_dict" else from_plain(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    return obj


def tensor_free(obj):
    """A readable copy for JSON: arrays replaced by their shape, state dicts left out."""
    if isinstance(obj, dict):
        return {k: tensor_free(v) for k, v in obj.items() if k != "state_dict"}
    if isinstance(obj, list):
        return [tensor_free(v) for v in obj]
    if isinstance(obj, torch.Tensor | np.ndarray):
        return f"<array shape {list(obj.shape)}>"
    return obj


def save_payload(payload: dict, path) -> None:
    # Through a file object, so the archive's record names (and the bytes) do not depend on
    # the random temporary file name.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(to_plain(payload), handle)


def load_payload(path) -> dict:
    return from_plain(torch.load(path, map_location="cpu", weights_only=True))
