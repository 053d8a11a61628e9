"""The learning procedure on one (development, test) partition, and grouped outer CV.

:func:`run_procedure` is what the train + calibrate stages do for the fixed test split and
what every outer CV fold does with its own test fold: cross-fit the members and the
combiner on the development enzymes (inner folds = the grouped CV folds restricted to
them), calibrate and choose thresholds on the out-of-fold rows, score the test enzymes. So
the CV numbers estimate exactly what the final model does. Folds are whole MMseqs2
clusters (split stage): each fold measures generalisation to unseen families.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from terpene_ensembles.features.sequence_features import FEATURE_GROUPS
from terpene_ensembles.learning import cross_fitting as learner
from terpene_ensembles.learning import stacking
from terpene_ensembles.learning.calibration import (
    Thresholds,
    calibrate_predictions,
    calibrate_scores,
    calibration_with_settings,
    thresholds_vector,
)
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.metrics import (
    HEADLINE_METRICS,
    ORACLE_METRICS,
    acceptance,
    at_least,
    baseline_members_of,
    multilabel_metrics,
    predictor_metrics,
    substrate_metrics,
)
from terpene_ensembles.learning.reliability import GROUPED, predictor_outcomes
from terpene_ensembles.learning.substrate import substrate_predictions
from terpene_ensembles.learning.training_data import TrainingData, TrainingInputError
from terpene_ensembles.settings import CalibrateConfig, TrainConfig


def fold_partition(folds: np.ndarray, fold: int) -> np.ndarray:
    """True for the test enzymes of outer fold ``fold``."""
    k = int(folds.max()) + 1
    if not 0 <= fold < k:
        raise TrainingInputError(f"fold {fold} outside 0..{k - 1}")
    return folds == fold


def run_procedure(
    data: TrainingData,
    is_test: np.ndarray,
    folds: np.ndarray,
    hits: pd.DataFrame,
    train_settings: TrainConfig,
    calibrate_settings: CalibrateConfig,
    device: str = "cpu",
):
    """Cross-fit on ``~is_test``, calibrate on its OOF rows, score ``is_test``.

    Returns (cross_fit, test_scores, predictions, calibration, calibrated).
    """
    cross_fit, test_scores, predictions = learner.fit_and_score(
        data, is_test, folds, hits, train_settings, device
    )
    calibration, calibrated = calibrate_predictions(
        predictions, learner.labels_frame(data), data.ensemble_ids, calibrate_settings
    )
    return cross_fit, test_scores, predictions, calibration, calibrated


# --- ablations ------------------------------------------------------------------------------


def combination_metrics(
    oof: dict,
    test_scores: dict,
    members: list[str],
    dev: TrainingData,
    test: TrainingData,
    dev_identity: np.ndarray,
    test_identity: np.ndarray,
    folds: np.ndarray,
    calibrate_settings: CalibrateConfig,
) -> dict:
    """Test metrics of the combiner over ``members``, with the whole downstream recipe."""
    combiner = stacking.fit_combiner(oof, members, dev_identity, dev.labels)
    oof_model = stacking.cross_fitted_combination(oof, members, dev_identity, dev.labels, folds)
    test_model = combiner.apply(test_scores, test_identity)
    return calibrated_metrics(oof_model, test_model, dev, test, calibrate_settings)


def calibrated_metrics(
    oof_scores, test_scores, dev, test, calibrate_settings, predictor: str = "model"
) -> dict:
    """Headline test metrics of one scorer, calibrated and thresholded on its OOF rows."""
    calibration = calibration_with_settings(
        oof_scores, dev.labels, dev.ensemble_ids, calibrate_settings, predictor
    )
    probabilities = calibrate_scores(calibration, test_scores, dev.ensemble_ids)
    thresholds = thresholds_vector(calibration, dev.ensemble_ids)
    always_call_top = calibrate_settings.always_call_top
    calls = Thresholds({predictor: calibration}, always_call_top).calls(
        predictor, probabilities, dev.ensemble_ids
    )
    result = multilabel_metrics(
        test.labels, probabilities, calls, dev.ensemble_ids, thresholds, always_call_top
    )
    return {m: result[m] for m in HEADLINE_METRICS}


def ablations(
    data: TrainingData,
    is_test: np.ndarray,
    folds: np.ndarray,
    hits: pd.DataFrame,
    cross_fit: learner.CrossFit,
    test_scores: dict,
    train_settings: TrainConfig,
    calibrate_settings: CalibrateConfig,
    device: str = "cpu",
    test_metrics: dict | None = None,
) -> dict:
    """Headline test metrics of variants of the model on the same partition.

    - ``model``: as configured; ``without:<member>`` / ``with:<member>``: the combiner
      over one member less / more (``with:plm`` vs the model is "PLM on vs off");
    - ``only:<member>``: one member alone, calibrated and thresholded the same way;
    - ``without_group:<group>`` / ``with_group:<group>``: the positions member refitted
      without one more engineered feature group, or with an excluded one back (the C it
      chose is kept; the logistic-regression baseline always keeps every group);
      ``without_group:positions`` is ``without:positions``.

    ``test_metrics`` (the partition's :func:`predictor_metrics`, same calibration recipe)
    supplies the ``model`` row and the ``only:`` rows of predictors it already scored, so
    they are not computed twice.
    """
    dev, test = data.subset(~is_test), data.subset(is_test)
    inner = folds[~is_test]
    model = cross_fit.model
    combined = model.combined_members
    available = list(model.members)
    dev_identity, test_identity = cross_fit.best_identity, test_scores["best_identity"]
    oof_scores, member_scores = dict(cross_fit.oof), dict(test_scores)
    for name in registry.names():
        member = registry.get(name)
        if name in available or member.uses_torch or not member.needs <= data.available_inputs():
            continue
        # A member with its input but not in the model (PLM on vs off: ``with:plm``),
        # cross-fitted like the others (a candidate selection left out already was), for
        # this table only.
        if name in cross_fit.left_out:
            best, oof_scores[name] = cross_fit.left_out[name]
        else:
            best, oof_scores[name], _ = learner.select_member(
                name, dev, inner, hits, train_settings, device
            )
        state = member.fit(dev, best, train_settings, device)
        member_scores[name] = member.score(state, test, hits)
        available.append(name)

    def variant(members, oof=oof_scores, scores=member_scores):
        return combination_metrics(
            oof,
            scores,
            members,
            dev,
            test,
            dev_identity,
            test_identity,
            inner,
            calibrate_settings,
        )

    scored = {}
    if test_metrics is not None:
        scored = {**test_metrics["baselines"], **test_metrics["components"]}
        scored["model"] = test_metrics["model"]
    scored = {name: {m: entry[m] for m in HEADLINE_METRICS} for name, entry in scored.items()}
    table = {"model": scored["model"] if "model" in scored else variant(combined)}
    for member in available:
        table[f"only:{member}"] = scored.get(member) or calibrated_metrics(
            oof_scores[member], member_scores[member], dev, test, calibrate_settings, member
        )
        if member in combined and len(combined) > 1:
            table[f"without:{member}"] = variant([m for m in combined if m != member])
        elif member not in combined:
            table[f"with:{member}"] = variant([*combined, member])
    refit = [m for m in combined if registry.get(m).uses_feature_groups]
    excluded = set(train_settings.exclude_feature_groups)
    for group in FEATURE_GROUPS if refit else ():
        changed = excluded ^ {group}  # add the group back if excluded, else remove it
        name = f"{'with' if group in excluded else 'without'}_group:{group}"
        reduced = replace(train_settings, exclude_feature_groups=sorted(changed))
        oof, scores = dict(oof_scores), dict(member_scores)
        for member in refit:
            c = model.selection[member]["c"]
            grid = learner.out_of_fold_member(member, dev, inner, hits, reduced, (c,), device)
            oof[member] = grid[c]
            state = registry.get(member).fit(dev, c, reduced, device)
            scores[member] = registry.get(member).score(state, test, hits)
        table[name] = variant(combined, oof, scores)
    if len(combined) > 1:
        for member in combined:
            group = registry.get(member).ablation_group
            if group is not None:  # the member stands for a feature group of its own
                table[f"without_group:{group}"] = table[f"without:{member}"]
    return table


# --- outer cross-validation -----------------------------------------------------------------


def run_fold(
    data: TrainingData,
    folds: np.ndarray,
    fold: int,
    hits: pd.DataFrame,
    families_by_id: dict[str, str],
    train_settings: TrainConfig,
    calibrate_settings: CalibrateConfig,
    device: str = "cpu",
    with_ablations: bool = True,
) -> dict:
    is_test = fold_partition(folds, fold)
    cross_fit, test_scores, predictions, calibration, calibrated = run_procedure(
        data, is_test, folds, hits, train_settings, calibrate_settings, device
    )
    labels = learner.labels_frame(data)
    test = predictor_metrics(
        calibrated,
        labels.set_index("id"),
        calibration,
        data.ensemble_ids,
        registry.baseline_names(),
        "test",
    )
    substrate_view = substrate_metrics(
        substrate_predictions(data, is_test, folds, families_by_id, hits, train_settings, device),
        families_by_id,
    )
    result = {
        "fold": fold,
        "n_dev": int((~is_test).sum()),
        "n_test": int(is_test.sum()),
        "selection": cross_fit.model.selection,
        "combiner_members": cross_fit.model.combined_members,
        "candidates": cross_fit.candidates,
        "test": test,
        "acceptance": acceptance(test),
        "substrate": substrate_view,
        "reliability_outcomes": fold_outcomes(
            calibrated, labels.set_index("id"), calibration, data, test_scores, is_test
        ),
    }
    if with_ablations:
        result["ablations"] = ablations(
            data,
            is_test,
            folds,
            hits,
            cross_fit,
            test_scores,
            train_settings,
            calibrate_settings,
            device,
            test_metrics=test,
        )
    return result


def fold_outcomes(calibrated, truth, calibration, data, test_scores, is_test) -> dict:
    """Per test enzyme of the fold, for the model and the homology baseline: its best
    identity to the fold's development enzymes and how its calls fared (the grouped-folds
    rows of the reliability table; records of :func:`reliability.enzyme_outcomes`)."""
    identity = dict(zip(data.ids[is_test], test_scores["best_identity"], strict=True))
    test_rows = calibrated[calibrated["split"] == "test"]
    names = [learner.MODEL, registry.homology_baseline_name()]
    return {
        name: predictor_outcomes(
            test_rows, name, identity, truth, calibration, data.ensemble_ids, GROUPED
        )
        .drop(columns="procedure")
        .to_dict("records")
        for name in names
        if name
    }


def _stats(values: list[float]) -> dict:
    clean = [v for v in values if v is not None]
    return {
        "mean": round(float(np.mean(clean)), 6) if clean else None,
        "std": round(float(np.std(clean, ddof=1)), 6) if len(clean) > 1 else None,
        "values": values,
    }


def per_class_summary(fold_metrics: list[dict]) -> dict:
    """Per class: mean AP and F1 over the folds where the class has test positives."""
    classes = fold_metrics[0]["test"]["model"]["per_class"].keys()
    out = {}
    for ensemble_id in classes:
        entries = [
            f["test"]["model"]["per_class"][ensemble_id]
            for f in fold_metrics
            if f["test"]["model"]["per_class"][ensemble_id]["support"] > 0
        ]
        out[ensemble_id] = {
            "folds_with_positives": len(entries),
            "ap": _stats([e["ap"] for e in entries])["mean"],
            "f1": _stats([e["f1"] for e in entries])["mean"],
        }
    return out


def summarise(fold_metrics: list[dict]) -> dict:
    """Mean and sample std per predictor and headline metric over the folds."""
    fold_metrics = sorted(fold_metrics, key=lambda m: m["fold"])
    predictors = {"model": lambda t: t["model"]}
    for name in fold_metrics[0]["test"]["baselines"]:
        predictors[name] = lambda t, n=name: t["baselines"][n]
    # With members: auto, folds may select different members: a component's values are
    # None in the folds whose model does not combine it.
    components = dict.fromkeys(n for f in fold_metrics for n in f["test"].get("components", {}))
    for name in components:
        predictors[name] = lambda t, n=name: t.get("components", {}).get(n)
    summary = {"n_folds": len(fold_metrics)}
    for name, getter in predictors.items():
        entry = {
            m: _stats([(getter(f["test"]) or {}).get(m) for f in fold_metrics])
            for m in (*HEADLINE_METRICS, *ORACLE_METRICS)
        }
        substrate = [
            (
                f["substrate"].get("model")
                if name == "model"
                else f["substrate"]["baselines"].get(name)
            )
            if f.get("substrate")
            else None
            for f in fold_metrics
        ]
        if any(s for s in substrate):
            entry["substrate_map"] = _stats([s["map"] if s else None for s in substrate])
        summary[name] = entry
    summary["per_class"] = per_class_summary(fold_metrics)
    if all("ablations" in f for f in fold_metrics):
        # Folds that selected different members have different variants (with:/without:
        # one member); a variant's values are None in the folds that lack it.
        variants = list(dict.fromkeys(v for f in fold_metrics for v in f["ablations"]))
        summary["ablations"] = {
            v: {
                m: _stats([f["ablations"].get(v, {}).get(m) for f in fold_metrics])
                for m in ("map", "precision_at_1", "macro_f1", "micro_f1", "calls_per_enzyme")
            }
            for v in variants
        }
    summary["acceptance"] = cv_acceptance(summary, baseline_members_of(fold_metrics[0]["test"]))
    summary["folds"] = [
        {
            k: f[k]
            for k in ("fold", "n_dev", "n_test", "combiner_members", "candidates", "selection")
            if k in f
        }
        for f in fold_metrics
    ]
    summary["member_selection"] = member_selection_counts(fold_metrics)
    return summary


def member_selection_counts(fold_metrics: list[dict]) -> dict[str, int]:
    """For each member that was a candidate (or listed) in some fold: in how many folds the
    combiner used it."""
    names = {name for f in fold_metrics for name in f.get("candidates", {})}
    names |= {name for f in fold_metrics for name in f["combiner_members"]}
    return {
        name: sum(name in f["combiner_members"] for f in fold_metrics)
        for name in registry.names()
        if name in names
    }


def cv_acceptance(summary: dict, baselines: list[str]) -> dict:
    """The release criteria on the CV means (model vs the best of the baseline members
    ``baselines``: kNN and logistic regression)."""

    def mean(name, metric):
        return summary[name][metric]["mean"]

    best_p1 = max(mean(name, "precision_at_1") for name in baselines)
    best_map = max(mean(name, "map") for name in baselines)
    callable_classes = [
        c for c, e in summary["per_class"].items() if e["ap"] is not None and e["ap"] >= 0.5
    ]
    uncalled = [c for c in callable_classes if not summary["per_class"][c]["f1"]]
    checks = {
        "precision_at_1_minus_best_baseline": round(mean("model", "precision_at_1") - best_p1, 6),
        "map_ratio_vs_best_baseline": round(mean("model", "map") / best_map, 6),
        "macro_f1": mean("model", "macro_f1"),
        "decision_efficiency": mean("model", "decision_efficiency"),
        "calls_per_true_ensemble": round(
            mean("model", "calls_per_enzyme") / mean("model", "true_per_enzyme"), 6
        ),
        "classes_ap_at_least_0_5": len(callable_classes),
        "classes_ap_at_least_0_5_never_called": uncalled,
    }
    checks["passed"] = bool(
        at_least(checks["precision_at_1_minus_best_baseline"], 0.05)
        and at_least(checks["map_ratio_vs_best_baseline"], 1.2)
        and at_least(checks["macro_f1"], 0.25)
        and at_least(checks["decision_efficiency"], 0.7)
        and at_least(1.5, checks["calls_per_true_ensemble"])
        and not uncalled
    )
    return checks
