"""Figures of the HTML report, returned as ``data:`` URIs so the page needs no other file.

Plots are matplotlib (Agg backend, no display needed) rendered to PNG; skeleton drawings are
RDKit SVG. Every function is deterministic for the same inputs (PNG metadata without a
software/date stamp, fixed figure sizes).
"""

from __future__ import annotations

import base64
import io
import math
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from terpene_ensembles.learning.reference_predictors import LABEL_PRIOR, RANDOM  # noqa: E402

# Fixed styles so that the figures print well in black and white as well as in colour: the
# model and the reference predictors by name, the other predictors by their order in a plot.
FIXED_STYLES = {
    "model": {"color": "#1f4e9c", "linestyle": "-"},
    LABEL_PRIOR: {"color": "#7f7f7f", "linestyle": (0, (1, 3))},
    RANDOM: {"color": "#b0b0b0", "linestyle": (0, (5, 5))},
}
OTHER_STYLES = (
    {"color": "#c0392b", "linestyle": "--"},
    {"color": "#27864a", "linestyle": ":"},
    {"color": "#8e44ad", "linestyle": "-."},
    {"color": "#d68910", "linestyle": (0, (3, 1, 1, 1))},
)


def predictor_styles(predictors) -> dict[str, dict]:
    """A line style per predictor of one plot."""
    others = iter(OTHER_STYLES * (1 + len(list(predictors)) // len(OTHER_STYLES)))
    return {p: FIXED_STYLES[p] if p in FIXED_STYLES else next(others) for p in predictors}


DPI = 110


def png_data_uri(figure) -> str:
    """Render a matplotlib figure to a base64 PNG data URI and close it."""
    buffer = io.BytesIO()
    # No "Software" stamp: the same figure gives the same bytes whatever the matplotlib build.
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def svg_data_uri(svg_text: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg_text.encode("utf-8")).decode("ascii")


def skeleton_svg_uri(smiles: str, width: int = 180, height: int = 130) -> str | None:
    """Draw a (skeleton) SMILES with RDKit; None when the text is not a valid SMILES."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    if not smiles:
        return None
    molecule = Chem.MolFromSmiles(smiles, sanitize=True)
    if molecule is None or molecule.GetNumAtoms() == 0:
        return None
    rdDepictor.SetPreferCoordGen(True)
    rdDepictor.Compute2DCoords(molecule)
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    options = drawer.drawOptions()
    options.clearBackground = False
    options.bondLineWidth = 1.5
    drawer.DrawMolecule(molecule)
    drawer.FinishDrawing()
    return svg_data_uri(drawer.GetDrawingText())


def _grid(n_panels: int, n_columns: int) -> tuple[int, int]:
    n_columns = max(1, min(n_columns, n_panels))
    return math.ceil(n_panels / n_columns), n_columns


def precision_recall_grid(
    truth: pd.DataFrame,
    scores_by_predictor: dict[str, pd.DataFrame],
    titles: dict[str, str],
    n_columns: int = 6,
) -> str | None:
    """Small multiples: one precision-recall panel per class with positives.

    ``truth`` and each score frame are aligned (same index, one column per class).
    """
    classes = [c for c in truth.columns if truth[c].sum() > 0]
    if not classes:
        return None
    n_rows, n_columns = _grid(len(classes), n_columns)
    figure, axes = plt.subplots(
        n_rows,
        n_columns,
        figsize=(2.1 * n_columns, 2.05 * n_rows),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    styles = predictor_styles(scores_by_predictor)
    for axis, ensemble_id in zip(axes.flat, classes, strict=False):
        y_true = truth[ensemble_id].to_numpy()
        for predictor, scores in scores_by_predictor.items():
            precision, recall, _ = precision_recall_curve(y_true, scores[ensemble_id].to_numpy())
            style = styles[predictor]
            axis.step(recall, precision, where="post", linewidth=1.2, label=predictor, **style)
        prevalence = y_true.mean()
        axis.axhline(prevalence, color="#999999", linewidth=0.6, linestyle=":")
        title = f"{titles.get(ensemble_id, ensemble_id)} (n={int(y_true.sum())})"
        axis.set_title("\n".join(textwrap.wrap(title, 28)[:2]), fontsize=6.5)
        axis.set_xlim(0, 1.0)
        axis.set_ylim(0, 1.05)
        axis.tick_params(labelsize=6)
    for axis in list(axes.flat)[len(classes) :]:
        axis.set_visible(False)
    for axis in axes[:, 0]:
        axis.set_ylabel("precision", fontsize=7)
    for axis in axes[-1, :]:
        axis.set_xlabel("recall", fontsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.05 * n_rows)))
    return png_data_uri(figure)


def reliability_diagram(
    truth: pd.DataFrame, scores_by_predictor: dict[str, pd.DataFrame], n_bins: int = 10
) -> str | None:
    """Observed positive rate against predicted probability, pooled over all classes."""
    y_true = truth.to_numpy().ravel()
    if y_true.size == 0 or y_true.min() == y_true.max():
        return None
    figure, (curve_axis, count_axis) = plt.subplots(
        2, 1, figsize=(4.6, 5.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    curve_axis.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle=":", label="ideal")
    edges = np.linspace(0, 1, n_bins + 1)
    styles = predictor_styles(scores_by_predictor)
    for predictor, scores in scores_by_predictor.items():
        probabilities = np.clip(scores[truth.columns].to_numpy().ravel(), 0.0, 1.0)
        observed, predicted = calibration_curve(
            y_true, probabilities, n_bins=n_bins, strategy="uniform"
        )
        style = styles[predictor]
        curve_axis.plot(predicted, observed, marker="o", markersize=3, label=predictor, **style)
        counts, _ = np.histogram(probabilities, bins=edges)
        count_axis.stairs(counts, edges, **style)
    curve_axis.set_ylabel("observed fraction positive")
    curve_axis.set_xlim(0, 1)
    curve_axis.set_ylim(0, 1)
    curve_axis.legend(fontsize=8, frameon=False, loc="upper left")
    count_axis.set_ylabel("predictions", fontsize=8)
    count_axis.set_xlabel("predicted probability")
    figure.tight_layout()
    return png_data_uri(figure)


def cooccurrence_heatmap(labels: pd.DataFrame, titles: dict[str, str]) -> str | None:
    """Enzymes carrying both ensembles i and j (diagonal: enzymes carrying i), log colour."""
    matrix = labels.to_numpy(dtype=np.int64)
    if matrix.size == 0:
        return None
    counts = matrix.T @ matrix
    n_classes = counts.shape[0]
    size = max(4.0, 0.22 * n_classes + 2.0)
    figure, axis = plt.subplots(figsize=(size + 1.0, size))
    image = axis.imshow(np.log10(counts + 1), cmap="Blues", interpolation="nearest")
    names = [titles.get(c, c) for c in labels.columns]
    axis.set_xticks(range(n_classes), names, rotation=90, fontsize=6)
    axis.set_yticks(range(n_classes), names, fontsize=6)
    colorbar = figure.colorbar(image, ax=axis, fraction=0.04)
    colorbar.set_label("log10(enzymes + 1)", fontsize=7)
    colorbar.ax.tick_params(labelsize=6)
    figure.tight_layout()
    return png_data_uri(figure)


def grouped_bars(table: pd.DataFrame, value_columns: list[str], title: str) -> str | None:
    """Horizontal bars, one group per row of ``table`` (index = group name)."""
    if table.empty:
        return None
    n_groups = len(table)
    figure, axis = plt.subplots(figsize=(5.5, 0.45 * n_groups * len(value_columns) / 2 + 1.2))
    height = 0.8 / len(value_columns)
    positions = np.arange(n_groups)
    palette = ["#1f4e9c", "#c0392b", "#27864a", "#8e44ad"]
    for offset, column in enumerate(value_columns):
        axis.barh(
            positions + offset * height,
            table[column].fillna(0).to_numpy(),
            height=height,
            label=column,
            color=palette[offset % len(palette)],
        )
    axis.set_yticks(positions + height * (len(value_columns) - 1) / 2, table.index, fontsize=7)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, frameon=False, loc="lower right")
    figure.tight_layout()
    return png_data_uri(figure)


def precision_by_band(bands: list[str], rows_by_predictor: dict[str, list[dict]]) -> str | None:
    """Top-call precision per homology band with its 95% interval, one series per predictor
    (rows of reliability.band_table; a band without estimate is left out); the first
    predictor's ``expected_top_precision`` (what its predictions are told) as a dashed line."""
    if not any(r["top_precision"] is not None for rows in rows_by_predictor.values() for r in rows):
        return None
    figure, axis = plt.subplots(figsize=(5.6, 3.4))
    styles = predictor_styles(rows_by_predictor)
    positions = np.arange(len(bands))
    width = 0.8 / max(1, len(rows_by_predictor))
    for k, (predictor, rows) in enumerate(rows_by_predictor.items()):
        shown = [(i, r) for i, r in enumerate(rows) if r["top_precision"] is not None]
        x = (
            np.array([positions[i] for i, _ in shown])
            + (k - (len(rows_by_predictor) - 1) / 2) * width
        )
        value = np.array([r["top_precision"] for _, r in shown])
        low = np.array([r["top_precision_low"] for _, r in shown])
        high = np.array([r["top_precision_high"] for _, r in shown])
        style = styles[predictor]
        axis.errorbar(
            x,
            value,
            yerr=[value - low, high - value],
            fmt="o",
            markersize=4,
            capsize=3,
            color=style["color"],
            label=predictor,
        )
        if k == 0:
            axis.plot(
                x,
                [r["expected_top_precision"] for _, r in shown],
                linestyle="--",
                linewidth=1,
                color=style["color"],
                label=f"{predictor}: expected (monotone)",
            )
    axis.set_xticks(positions, bands, fontsize=8)
    axis.set_xlabel("best identity to a training enzyme")
    axis.set_ylabel("top-call precision")
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize=8, frameon=False, loc="lower right")
    figure.tight_layout()
    return png_data_uri(figure)
