import numpy as np
import pytest
import torch
from learning_synthetic import FAST_TRAIN, make_dataset

from terpene_ensembles.learning.fusion_network import (
    FusionConfig,
    FusionNet,
    autocast_dtype,
    export_fusion,
    focal_loss,
    import_fusion,
    predict_proba,
    train_fusion,
)
from terpene_ensembles.settings import TrainConfig


def test_architecture_follows_the_plm_width_and_is_absent_without_plm():
    with_plm = FusionNet(FusionConfig(n_features=7, n_classes=5, plm_dim=48))
    assert with_plm.plm_branch[0].in_features == 48
    assert with_plm.plm_branch[0].out_features == 512
    assert with_plm.plm_branch[3].out_features == 256
    assert with_plm.head[0].in_features == 512
    assert with_plm.head[-1].out_features == 5
    logits = with_plm(torch.zeros(3, 7), torch.zeros(3, 48))
    assert logits.shape == (3, 5)

    without = FusionNet(FusionConfig(n_features=7, n_classes=5, plm_dim=None))
    assert without.plm_branch is None
    assert not any("plm" in name for name, _ in without.named_parameters())
    assert without.head[0].in_features == 256
    assert without(torch.zeros(3, 7)).shape == (3, 5)
    with pytest.raises(ValueError, match="no PLM branch"):
        without(torch.zeros(3, 7), torch.zeros(3, 48))
    with pytest.raises(ValueError, match="embeddings are required"):
        with_plm(torch.zeros(3, 7))


def test_focal_loss_matches_its_definition():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.sigmoid(logits)
    p_t = torch.where(targets == 1, p, 1 - p)
    alpha_t = torch.where(targets == 1, torch.tensor(0.25), torch.tensor(0.75))
    expected = (-alpha_t * (1 - p_t) ** 2 * torch.log(p_t)).mean()
    assert focal_loss(logits, targets, 0.25, 2.0).item() == pytest.approx(expected.item(), rel=1e-5)
    # gamma = 0, alpha = 0.5 is half the binary cross-entropy
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert focal_loss(logits, targets, 0.5, 0.0).item() == pytest.approx(0.5 * bce.item())


def test_mixed_precision_only_on_gpu():
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) is None


@pytest.mark.parametrize("plm_dim", [None, 16])
def test_training_is_deterministic_and_keeps_the_best_validation_epoch(plm_dim):
    data = make_dataset(plm_dim=plm_dim)
    train, val = data.subset(np.arange(120) < 90), data.subset(np.arange(120) >= 90)
    settings = TrainConfig.from_config({**FAST_TRAIN, "grad_accumulation": 2})

    def run():
        return train_fusion(
            train.features,
            train.labels,
            val.features,
            val.labels,
            settings,
            train.embeddings,
            val.embeddings,
        )

    model, scaler, history = run()
    again, _, _ = run()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name])
    assert 1 <= len(history) <= FAST_TRAIN["max_epochs"]
    best = max(history, key=lambda row: row["val_map"])
    scores = predict_proba(model, scaler.transform(val.features), val.embeddings)
    from terpene_ensembles.learning.metrics import mean_average_precision

    assert mean_average_precision(val.labels, scores) == pytest.approx(best["val_map"], abs=1e-6)


def test_early_stopping_respects_patience():
    data = make_dataset()
    train, val = data.subset(np.arange(120) < 90), data.subset(np.arange(120) >= 90)
    settings = TrainConfig.from_config({**FAST_TRAIN, "max_epochs": 200, "patience": 2})
    _, _, history = train_fusion(train.features, train.labels, val.features, val.labels, settings)
    best_epoch = max(history, key=lambda row: row["val_map"])["epoch"]
    assert len(history) <= best_epoch + 2


def test_export_round_trip_with_weights_only(tmp_path):
    data = make_dataset(plm_dim=8)
    settings = TrainConfig.from_config({**FAST_TRAIN, "max_epochs": 2})
    model, scaler, _ = train_fusion(
        data.features,
        data.labels,
        data.features,
        data.labels,
        settings,
        data.embeddings,
        data.embeddings,
    )
    path = tmp_path / "fusion.pt"
    torch.save(export_fusion(model, scaler), path)
    restored, restored_scaler = import_fusion(torch.load(path, weights_only=True))
    before = predict_proba(model, scaler.transform(data.features), data.embeddings)
    after = predict_proba(restored, restored_scaler.transform(data.features), data.embeddings)
    assert after == pytest.approx(before)
