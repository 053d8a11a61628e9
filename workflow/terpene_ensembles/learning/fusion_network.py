"""The fusion network: PLM-embedding branch + feature branch -> multi-label head.

Architecture (the seed's): PLM branch in_dim -> 512 -> 256, feature branch F -> 256, fusion
head (512 | 256) -> 512 -> 256 -> K, ReLU + dropout. Without embeddings (PLM disabled) the
PLM branch does not exist at all and the head takes the 256 feature units. Trained with
focal loss (alpha, gamma), Adam, gradient accumulation, bf16/fp16 autocast on GPU only, and
early stopping on validation mean average precision (not loss).
"""

from __future__ import annotations

import copy
import logging
import random
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from terpene_ensembles.learning.metrics import mean_average_precision
from terpene_ensembles.settings import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class FusionConfig:
    n_features: int
    n_classes: int
    plm_dim: int | None = None  # None: no PLM branch
    dropout: float = 0.1


class FusionNet(nn.Module):
    def __init__(self, config: FusionConfig):
        super().__init__()
        self.config = config
        p = config.dropout
        self.feature_branch = nn.Sequential(
            nn.Linear(config.n_features, 256), nn.ReLU(), nn.Dropout(p)
        )
        if config.plm_dim:
            self.plm_branch = nn.Sequential(
                nn.Linear(config.plm_dim, 512),
                nn.ReLU(),
                nn.Dropout(p),
                nn.Linear(512, 256),
                nn.ReLU(),
                nn.Dropout(p),
            )
            head_in = 512
        else:
            self.plm_branch = None
            head_in = 256
        self.head = nn.Sequential(
            nn.Linear(head_in, 512),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(512, 256),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(256, config.n_classes),
        )

    def forward(self, features: torch.Tensor, embeddings: torch.Tensor | None = None):
        parts = [self.feature_branch(features)]
        if self.plm_branch is not None:
            if embeddings is None:
                raise ValueError("this model has a PLM branch: embeddings are required")
            parts.insert(0, self.plm_branch(embeddings))
        elif embeddings is not None:
            raise ValueError("this model has no PLM branch: pass no embeddings")
        return self.head(torch.cat(parts, dim=1))  # logits


def focal_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """Binary focal loss (Lin et al. 2017), mean over all (enzyme, class) entries."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * bce).mean()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():  # CPU kernels used here are deterministic already; the
        torch.use_deterministic_algorithms(True, warn_only=True)  # call costs ~3 s of imports


def autocast_dtype(mode: str, device: torch.device):
    """Mixed precision on GPU only: auto -> bf16 when supported; never on CPU."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


class FeatureScaler:
    """Standardisation of the feature matrix (train statistics), kept as plain arrays."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean, self.scale = np.asarray(mean), np.asarray(scale)

    @classmethod
    def fit(cls, x: np.ndarray) -> FeatureScaler:
        scale = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


def _tensor(x, device):
    return None if x is None else torch.as_tensor(x, dtype=torch.float32, device=device)


def predict_proba(model: FusionNet, features, embeddings=None, batch_size: int = 1024):
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            f = _tensor(features[start : start + batch_size], device)
            e = (
                None
                if embeddings is None
                else _tensor(embeddings[start : start + batch_size], device)
            )
            out.append(torch.sigmoid(model(f, e).float()).cpu().numpy())
    if not out:
        return np.zeros((0, model.config.n_classes))
    return np.concatenate(out).astype(np.float64)


def train_fusion(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    settings: TrainConfig,
    train_embeddings: np.ndarray | None = None,
    val_embeddings: np.ndarray | None = None,
    device: str | torch.device = "cpu",
):
    """Train with early stopping on validation mAP; returns (model, scaler, history rows).

    The returned model holds the weights of the best validation epoch.
    """
    seed_everything(settings.seed)
    device = torch.device(device)
    scaler = FeatureScaler.fit(train_features)
    config = FusionConfig(
        n_features=train_features.shape[1],
        n_classes=train_labels.shape[1],
        plm_dim=None if train_embeddings is None else int(train_embeddings.shape[1]),
        dropout=settings.dropout,
    )
    model = FusionNet(config).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    amp_dtype = autocast_dtype(settings.mixed_precision, device)
    use_scaler = amp_dtype == torch.float16
    grad_scaler = torch.amp.GradScaler("cuda") if use_scaler else None

    x_train = _tensor(scaler.transform(train_features), device)
    e_train = _tensor(train_embeddings, device)
    y_train = _tensor(train_labels, device)
    x_val = scaler.transform(val_features)
    generator = torch.Generator().manual_seed(settings.seed)

    best_map, best_state, best_epoch, stale = -1.0, None, 0, 0
    history = []
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        batches = [
            order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)
        ]
        optimiser.zero_grad(set_to_none=True)
        epoch_loss = 0.0
        for step, batch in enumerate(batches, start=1):
            with torch.autocast(
                device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
            ):
                logits = model(x_train[batch], None if e_train is None else e_train[batch])
                loss = focal_loss(
                    logits.float(), y_train[batch], settings.focal_alpha, settings.focal_gamma
                )
            scaled = loss / settings.grad_accumulation
            (grad_scaler.scale(scaled) if grad_scaler else scaled).backward()
            epoch_loss += float(loss.detach()) * len(batch)
            if step % settings.grad_accumulation == 0 or step == len(batches):
                if grad_scaler:
                    grad_scaler.step(optimiser)
                    grad_scaler.update()
                else:
                    optimiser.step()
                optimiser.zero_grad(set_to_none=True)
        val_scores = predict_proba(model, x_val, val_embeddings)
        val_map = mean_average_precision(val_labels, val_scores)
        val_loss = float(
            focal_loss(
                torch.as_tensor(
                    np.log(np.clip(val_scores, 1e-7, 1)) - np.log(np.clip(1 - val_scores, 1e-7, 1))
                ),
                torch.as_tensor(val_labels, dtype=torch.float64),
                settings.focal_alpha,
                settings.focal_gamma,
            )
        )
        improved = val_map > best_map + 1e-6
        history.append(
            {
                "epoch": epoch,
                "train_loss": epoch_loss / len(x_train),
                "val_loss": val_loss,
                "val_map": val_map,
                "best": improved,
            }
        )
        if improved:
            best_map, best_epoch, stale = val_map, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= settings.patience:
                break
    model.load_state_dict(best_state)
    log.info("fusion: best epoch %d of %d, val mAP %.4f", best_epoch, len(history), best_map)
    return model, scaler, history


def export_fusion(model: FusionNet, scaler: FeatureScaler) -> dict:
    """Plain tensors and python values (``torch.load(weights_only=True)``-safe)."""
    return {
        "config": asdict(model.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "feature_mean": torch.as_tensor(scaler.mean, dtype=torch.float64),
        "feature_scale": torch.as_tensor(scaler.scale, dtype=torch.float64),
    }


def import_fusion(payload: dict) -> tuple[FusionNet, FeatureScaler]:
    model = FusionNet(FusionConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    # Tensors in model.pt, numpy arrays once payload.load_payload has converted them.
    mean, scale = (np.asarray(payload[k]) for k in ("feature_mean", "feature_scale"))
    scaler = FeatureScaler(mean, scale)
    return model, scaler
