"""Trained-model bundle: everything needed to score NEW sequences, without pickles.

Layout of a bundle directory (``results/model/``):
- ``bundle.pt``: ``torch.save`` of plain python values and tensors only, loadable with
  ``torch.load(..., weights_only=True)``: ``format_version``, ``model`` (the
  :class:`~terpene_ensembles.learning.model.FittedModel` payload: vocabulary, feature
  columns, PLM identity, member states, combiner, selection, the training enzymes' ids),
  ``reference_sequences`` (aligned with the model's reference ids: the database new
  sequences are searched against), ``ensembles`` (vocabulary rows of ensembles.tsv),
  ``calibration`` {predictor: {global_threshold, classes: {class: {method, params,
  threshold, ...}}}}, ``always_call_top``, ``pfam_profiles`` (HMM file name -> sha256 of
  the copies in ``pfam/``), ``reliability`` (the reliability stage's table by homology
  band, :mod:`~terpene_ensembles.learning.reliability`) and ``reference_annotations``
  (``names`` and ``ensembles`` of the training enzymes, aligned with the reference ids).
- ``pfam/``: the Pfam HMMs the features and alignment positions were computed with, so the
  folder predicts on its own, wherever it is copied (:meth:`ModelBundle.pfam_folder`).
- ``manifest.json``: a readable summary (versions, selection, combiner, thresholds, the HMM
  checksums).

Older formats are migrated when loading (:func:`migrate`), nowhere else.

Scoring new sequences (:meth:`ModelBundle.score`): the caller supplies the feature table
(same columns, from the features stage's code), the positions table, embeddings (when a
member uses the PLM) and MMseqs2 hits of the new sequences against the reference enzymes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import write_json
from terpene_ensembles.learning.calibration import Thresholds
from terpene_ensembles.learning.model import MODEL, FittedModel
from terpene_ensembles.learning.payload import load_payload, save_payload, tensor_free, to_plain

# 3: the model's fields under `model`, the reference sequences at the top level, the Pfam
# HMMs in pfam/ with their checksums. 4: the reliability table and the training enzymes'
# names and ensembles (the evidence columns of predictions). 5: each band row of the
# reliability table carries the expected_top_precision predictions are given.
FORMAT_VERSION = 5
BUNDLE_FILE = "bundle.pt"
MANIFEST_FILE = "manifest.json"
PFAM_DIR = "pfam"


class BundleError(UserInputError, ValueError):
    """A model bundle that cannot be used as asked."""


def migrate(payload: dict) -> dict:
    """A payload of any supported older format in the current layout.

    Format 2 kept the fitted model's fields at the top level and the training enzymes'
    sequences inside the homology baseline's entry; homology members written before they
    stored a similarity weighed by identity. It carried no Pfam HMMs: such a model needs
    ``--pfam-dir`` (unchecked, as then).
    """
    version = payload.get("format_version")
    if version == FORMAT_VERSION:
        return payload
    if version == 4:
        # Format 4's band rows had no expected_top_precision: derived from their own
        # top_precision and n, as the reliability stage now does.
        from terpene_ensembles.learning.reliability import with_expected

        reliability = payload["reliability"]
        if reliability is not None:
            reliability = {
                **reliability,
                "predictors": {
                    name: with_expected(rows) for name, rows in reliability["predictors"].items()
                },
            }
        return {**payload, "format_version": FORMAT_VERSION, "reliability": reliability}
    if version == 3:
        # Format 3 had no reliability table nor training annotations: predictions from it
        # leave the expected precision and the neighbours' names and ensembles empty.
        return migrate(
            {**payload, "format_version": 4, "reliability": None, "reference_annotations": None}
        )
    if version != 2:
        raise BundleError(
            f"bundle format {version} is not supported (this code reads {FORMAT_VERSION}, 4, 3 "
            "and 2)"
        )
    members, reference_ids, sequences = {}, None, None
    for name, state in payload["members"].items():
        state = dict(state)
        if "reference_sequences" in state:
            reference_ids = list(state["reference_ids"])
            sequences = list(state.pop("reference_sequences"))
        if "reference_ids" in state:
            state.setdefault("similarity", "identity")
        members[name] = state
    if sequences is None:
        raise BundleError("format-2 bundle without reference sequences")
    model = {
        key: payload[key]
        for key in ("ensemble_ids", "feature_columns", "plm", "seed", "label_prior")
    }
    model |= {
        "reference_ids": reference_ids,
        "members": members,
        "combiner": payload["combiner"],
        "selection": payload["selection"],
    }
    return migrate(
        {
            "format_version": 3,
            "model": model,
            "reference_sequences": sequences,
            "ensembles": payload["ensembles"],
            "calibration": payload["calibration"],
            "always_call_top": payload["always_call_top"],
            "pfam_profiles": None,
        }
    )


def copy_profiles(pfam_dir, destination: Path) -> dict[str, str]:
    """Copy the HMM files of ``pfam_dir`` into ``destination`` (emptied first); return
    their checksums, verified on the copies."""
    from terpene_ensembles.features.domains import profile_checksums, profile_files

    source = profile_checksums(pfam_dir)
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for path in profile_files(pfam_dir):
        shutil.copyfile(path, destination / path.name)
    copied = profile_checksums(destination)
    if copied != source:
        raise BundleError(f"copying the Pfam HMMs of {pfam_dir} to {destination} changed them")
    return copied


def reference_annotations(
    model: FittedModel, enzymes: pd.DataFrame, labels: pd.DataFrame | None
) -> dict | None:
    """Name (enzymes.parquet ``enzyme_name``) and ensembles (labels) of each training
    enzyme, aligned with the model's reference ids; None without labels."""
    if labels is None:
        return None
    names = dict(zip(enzymes["id"].astype(str), enzymes["enzyme_name"].fillna(""), strict=True))
    classes = list(model.ensemble_ids)
    truth = labels.assign(id=labels["id"].astype(str)).set_index("id")[classes]
    missing = [i for i in model.reference_ids if i not in truth.index]
    if missing:
        raise BundleError(f"{len(missing)} training enzymes have no labels, e.g. {missing[:3]}")
    rows = truth.loc[[str(i) for i in model.reference_ids]].to_numpy().astype(bool)
    return {
        "names": [str(names.get(str(i), "")) for i in model.reference_ids],
        "ensembles": [[c for c, on in zip(classes, row, strict=True) if on] for row in rows],
    }


@dataclass
class ModelBundle:
    model: FittedModel
    reference_sequences: list[str]  # aligned with model.reference_ids
    ensembles: list[dict]  # vocabulary rows of ensembles.tsv
    thresholds: Thresholds
    pfam_profiles: dict[str, str] | None = None  # HMM file -> sha256 (None: format 2)
    pfam_source: Path | None = None  # where assemble() found the HMMs save() copies
    reliability: dict | None = None  # reliability.json of the training run (None: format 3)
    # {"names": [...], "ensembles": [[...], ...]} aligned with model.reference_ids
    reference_annotations: dict | None = None

    @property
    def ensemble_ids(self) -> list[str]:
        return list(self.model.ensemble_ids)

    @property
    def feature_columns(self) -> list[str]:
        return list(self.model.feature_columns)

    @property
    def plm(self) -> dict:
        return dict(self.model.plm)

    def uses(self, input_name: str) -> bool:
        """Whether scoring needs ``input_name`` (members.base.INPUTS)."""
        return input_name in self.model.inputs()

    def reference_table(self) -> pd.DataFrame:
        """id + sequence of the training enzymes (the database for MMseqs2 searches)."""
        return pd.DataFrame(
            {
                "id": [str(i) for i in self.model.reference_ids],
                "sequence": [str(s) for s in self.reference_sequences],
            }
        )

    def model_reliability(self) -> list[dict] | None:
        """The model's rows of the reliability table (None for a format-3 model)."""
        return (self.reliability or {}).get("predictors", {}).get(MODEL)

    def reference_annotation_maps(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(training id -> name, training id -> ensembles); empty for a format-3 model."""
        if self.reference_annotations is None:
            return {}, {}
        ids = [str(i) for i in self.model.reference_ids]
        names = dict(zip(ids, self.reference_annotations["names"], strict=True))
        ensembles = {
            i: list(e) for i, e in zip(ids, self.reference_annotations["ensembles"], strict=True)
        }
        return names, ensembles

    # --- building, saving, loading --------------------------------------------------------

    @classmethod
    def assemble(
        cls,
        model: FittedModel,
        thresholds: dict,
        enzymes: pd.DataFrame,
        ensembles: pd.DataFrame,
        pfam_dir,
        labels: pd.DataFrame | None = None,
        reliability: dict | None = None,
    ) -> ModelBundle:
        """From the train stage's model, calibrate's thresholds.json, the vocabulary and
        ``pfam_dir``, the Pfam HMM folder the features were computed with (copied by
        :meth:`save`); ``labels`` (id + one 0/1 column per ensemble) give the training
        enzymes' ensembles, ``reliability`` is the reliability stage's table."""
        from terpene_ensembles.features.domains import profile_checksums

        sequences = dict(
            zip(enzymes["id"].astype(str), enzymes["sequence"].astype(str), strict=True)
        )
        missing = [i for i in model.reference_ids if i not in sequences]
        if missing:
            raise BundleError(
                f"{len(missing)} training enzymes have no sequence, e.g. {missing[:3]}"
            )
        if list(ensembles["ensemble_id"]) != list(model.ensemble_ids):
            raise BundleError("ensembles.tsv does not match the classes the model was trained on")
        return cls(
            model=model,
            reference_sequences=[sequences[i] for i in model.reference_ids],
            ensembles=ensembles.astype(object).where(ensembles.notna(), None).to_dict("records"),
            thresholds=Thresholds(
                predictors=thresholds["predictors"],
                always_call_top=bool(thresholds["settings"]["always_call_top"]),
            ),
            pfam_profiles=profile_checksums(pfam_dir),
            pfam_source=Path(pfam_dir),
            reliability=reliability,
            reference_annotations=reference_annotations(model, enzymes, labels),
        )

    def to_payload(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model.to_payload(),
            "reference_sequences": list(self.reference_sequences),
            "ensembles": self.ensembles,
            "calibration": self.thresholds.predictors,
            "always_call_top": self.thresholds.always_call_top,
            "pfam_profiles": self.pfam_profiles,
            "reliability": self.reliability,
            "reference_annotations": self.reference_annotations,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> ModelBundle:
        payload = migrate(payload)
        return cls(
            model=FittedModel.from_payload(payload["model"]),
            reference_sequences=[str(s) for s in payload["reference_sequences"]],
            ensembles=list(payload["ensembles"]),
            thresholds=Thresholds(
                predictors=payload["calibration"],
                always_call_top=bool(payload["always_call_top"]),
            ),
            pfam_profiles=payload.get("pfam_profiles"),  # None: a model without its HMMs
            reliability=payload["reliability"],
            reference_annotations=payload["reference_annotations"],
        )

    def save(self, outdir) -> None:
        """``bundle.pt``, ``manifest.json`` and the Pfam HMMs (``pfam/``) in ``outdir``."""
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        if self.pfam_source is not None:
            copied = copy_profiles(self.pfam_source, outdir / PFAM_DIR)
            if copied != self.pfam_profiles:
                raise BundleError(f"the Pfam HMMs of {self.pfam_source} changed since assembly")
        payload = self.to_payload()
        save_payload(payload, outdir / BUNDLE_FILE)
        model = payload["model"]
        summary = {
            "format_version": FORMAT_VERSION,
            **{k: v for k, v in model.items() if k not in ("members", "reference_ids")},
            "calibration": payload["calibration"],
            "always_call_top": payload["always_call_top"],
            "pfam_profiles": payload["pfam_profiles"],
            "reliability": payload["reliability"],
            "members": {name: {"c": state.get("c")} for name, state in model["members"].items()},
            "n_reference": len(self.reference_sequences),
        }
        write_json(tensor_free(to_plain(summary)), outdir / MANIFEST_FILE)

    @classmethod
    def load(cls, model_dir) -> ModelBundle:
        path = Path(model_dir) / BUNDLE_FILE
        if not path.exists():
            raise BundleError(f"no model bundle at {path} (run the pipeline's `model_bundle` rule)")
        return cls.from_payload(load_payload(path))

    def pfam_folder(self, model_dir, override=None) -> Path:
        """The Pfam HMM folder to featurise new sequences with: the model's own copy
        (``model_dir``/pfam), or ``override`` when its HMMs are byte for byte (sha256) those
        the model was trained with. Anything else is refused: other profiles shift the Pfam
        features and the alignment positions without any other sign."""
        from terpene_ensembles.features.domains import PfamFolderError, profile_checksums

        if self.pfam_profiles is None:  # a format-2 model: it carries no HMMs
            if override is None:
                raise BundleError(
                    f"the model in {model_dir} predates models that carry their Pfam HMMs: "
                    "pass the folder it was trained with (--pfam-dir), or retrain"
                )
            return Path(override)
        trained = dict(self.pfam_profiles)
        folder = Path(override) if override is not None else Path(model_dir) / PFAM_DIR
        what = f"--pfam-dir {folder}" if override is not None else f"the model's HMM copy {folder}"
        try:
            given = profile_checksums(folder)
        except PfamFolderError as error:
            raise BundleError(f"{what}: {error}") from error
        if sorted(given.values()) != sorted(trained.values()):
            unmatched = sorted(name for name, sha in trained.items() if sha not in given.values())
            extra = sorted(name for name, sha in given.items() if sha not in trained.values())
            raise BundleError(
                f"{what} holds other Pfam HMMs than the model in {model_dir} was trained with "
                f"(sha256; model's HMMs not found there: {unmatched or 'none'}; HMMs the model "
                f"does not have: {extra or 'none'}): "
                + (
                    "leave out --pfam-dir to use the model's own copy"
                    if override is not None
                    else "the model folder is damaged; copy it again from the training run"
                )
            )
        return folder

    # --- scoring ----------------------------------------------------------------------------

    def score(
        self,
        features: pd.DataFrame,
        embeddings: pd.DataFrame | None,
        hits: pd.DataFrame,
        positions: pd.DataFrame | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Raw and calibrated probabilities of new enzymes.

        ``features``: id + the bundle's feature_columns; ``embeddings``: id + embedding (None
        when no member uses the PLM); ``positions``: id + aligned match-state strings (None
        when no member uses them); ``hits``: MMseqs2 hits against the bundle's reference
        (``training_data.HIT_COLUMNS``).
        Returns {"raw/<predictor>": frame, "calibrated/<predictor>": frame, "calls": bool
        frame of the model} with rows in ``features`` order, one column per ensemble id.
        """
        from terpene_ensembles.learning.training_data import (
            HIT_COLUMNS,
            TrainingData,
            embedding_matrix,
            feature_matrix,
            position_frame,
        )

        ids = features["id"].astype(str).to_numpy()
        x, _ = feature_matrix(features, ids, self.feature_columns)
        if self.uses("embeddings") and embeddings is None:
            raise BundleError(f"this model needs {self.plm['model']} embeddings")
        if self.uses("positions") and positions is None:
            raise BundleError("this model needs the alignment positions of the sequences")
        classes = self.ensemble_ids
        data = TrainingData(
            ids,
            np.zeros((len(ids), len(classes)), np.float32),
            classes,
            x,
            self.feature_columns,
            embedding_matrix(embeddings, ids) if self.uses("embeddings") else None,
            self.plm,
            position_frame(positions, ids) if self.uses("positions") else None,
        )
        hits = hits[HIT_COLUMNS].astype({"query": str, "target": str})
        raw = self.model.score(data, hits)
        out = {}
        for predictor, values in raw.items():
            if np.ndim(values) != 2:
                continue  # per-enzyme extras such as best_identity, not class probabilities
            out[f"raw/{predictor}"] = pd.DataFrame(values, index=ids, columns=classes)
            if predictor in self.thresholds.predictors:
                calibrated = self.thresholds.calibrate(predictor, values, classes)
                out[f"calibrated/{predictor}"] = pd.DataFrame(
                    calibrated, index=ids, columns=classes
                )
        calls = self.thresholds.calls(MODEL, out[f"calibrated/{MODEL}"].to_numpy(), classes)
        out["calls"] = pd.DataFrame(calls, index=ids, columns=classes)
        return out
