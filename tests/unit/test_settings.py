"""Settings classes: one per config section, defaults equal to the schema's."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from conftest import REPO

from terpene_ensembles.errors import ConfigError
from terpene_ensembles.settings import SECTIONS, CalibrateConfig, TrainConfig

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda cls: cls.SECTION)
def test_each_settings_class_has_the_schema_keys_and_defaults(cls):
    properties = SCHEMA["properties"][cls.SECTION]["properties"]
    defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}
    assert list(defaults) == list(properties)
    assert defaults == {key: spec["default"] for key, spec in properties.items()}


def test_every_config_section_has_a_settings_class():
    sections = {key for key, spec in SCHEMA["properties"].items() if spec.get("type") == "object"}
    assert sections == {cls.SECTION for cls in SECTIONS}


def test_unknown_keys_are_rejected_with_the_config_key():
    with pytest.raises(ConfigError) as raised:
        TrainConfig.from_config({"members": ["knn_identity"], "combination_grid": 3})
    assert raised.value.where == "train.combination_grid"


def test_from_config_fills_defaults_and_accepts_a_built_object():
    settings = CalibrateConfig.from_config({"min_positives": 5})
    assert settings.min_positives == 5 and settings.max_calls_per_positive == 1.5
    assert CalibrateConfig.from_config(settings) is settings
    assert CalibrateConfig.from_json('{"method": "platt"}').method == "platt"
