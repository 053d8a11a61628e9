"""config/README.md explains every configuration key, and only keys the schema has.

Each key is one row `| `key` | allowed | default | meaning |` of a table; the allowed
values and the default are rendered from workflow/schemas/config.schema.yaml by
`schema_rows` (the failure message prints the expected cells), the meaning is written by
hand. So a key added to the schema fails here until it is explained, and a documented
default or bound cannot drift from the schema.
"""

from __future__ import annotations

import json
import re

import yaml
from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_README = REPO / "config" / "README.md"
CELL = r"(?:\\\||[^|])*"  # a table cell: anything but an unescaped |
ROW = re.compile(
    rf"^\|\s*`(?P<key>[\w.]+)`\s*\|(?P<allowed>{CELL})\|(?P<default>{CELL})\|"
    rf"(?P<meaning>{CELL})\|\s*$"
)


def _bounds(prop: dict) -> list[str]:
    signs = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    return [f"{sign} {prop[name]}" for name, sign in signs.items() if name in prop]


def allowed(prop: dict) -> str:
    """The values a schema property accepts, as the README's `allowed` cell writes them."""
    if "enum" in prop:
        return " \\| ".join(f"`{value}`" for value in prop["enum"])
    if "oneOf" in prop:
        return " or ".join(allowed(option) for option in prop["oneOf"])
    kind = prop["type"]
    text = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array":
        text = f"list of {allowed(prop['items'])}"
        if prop.get("uniqueItems"):
            text += ", unique"
        if "minItems" in prop:
            text += f", at least {prop['minItems']}"
    if "pattern" in prop:
        text += f" matching `{prop['pattern']}`"
    return ", ".join([text, *_bounds(prop)])


def default(prop: dict) -> str:
    return f"`{json.dumps(prop.get('default'))}`" if "default" in prop else "required"


def schema_rows() -> dict[str, tuple[str, str]]:
    """Dotted key -> (allowed, default) for every leaf key of the schema."""
    schema = yaml.safe_load(SCHEMA.read_text())
    rows = {}
    for name, prop in schema["properties"].items():
        if prop.get("type") == "object":
            for key, sub in prop["properties"].items():
                rows[f"{name}.{key}"] = (allowed(sub), default(sub))
        else:
            rows[name] = (allowed(prop), default(prop))
    return rows


def documented_rows() -> dict[str, tuple[str, str, str]]:
    rows, seen = {}, []
    for line in CONFIG_README.read_text().splitlines():
        match = ROW.match(line)
        if match:
            seen.append(match["key"])
            rows[match["key"]] = tuple(
                match[name].strip() for name in ("allowed", "default", "meaning")
            )
    assert len(seen) == len(set(seen)), f"keys documented twice: {sorted(seen)}"
    return rows


def test_every_schema_key_is_documented_and_no_other():
    schema, documented = schema_rows(), documented_rows()
    missing = [
        f"| `{key}` | {cells[0]} | {cells[1]} | <meaning> |"
        for key, cells in schema.items()
        if key not in documented
    ]
    assert not missing, "config/README.md lacks rows:\n" + "\n".join(missing)
    unknown = sorted(set(documented) - set(schema))
    assert not unknown, f"config/README.md documents keys the schema does not have: {unknown}"


def test_allowed_values_and_defaults_are_the_schemas():
    schema, documented = schema_rows(), documented_rows()
    wrong = [
        f"| `{key}` | {cells[0]} | {cells[1]} | ... |  (documented: {documented[key][:2]})"
        for key, cells in schema.items()
        if key in documented and documented[key][:2] != cells
    ]
    assert not wrong, "rows whose allowed values or default differ from the schema:\n" + (
        "\n".join(wrong)
    )


def test_every_key_has_a_meaning_and_the_sections_follow_the_schema():
    documented = documented_rows()
    assert all(len(meaning) > 10 for _, _, meaning in documented.values())
    headings = re.findall(r"^## `(\w+)`", CONFIG_README.read_text(), re.M)
    sections = [k for k, p in yaml.safe_load(SCHEMA.read_text())["properties"].items()
                if p.get("type") == "object"]  # fmt: skip
    assert [h for h in headings if h in sections] == sections


def test_the_renderer_writes_bounds_enums_and_lists():
    assert allowed({"type": "integer", "minimum": 3}) == "integer, >= 3"
    assert allowed({"type": "number", "exclusiveMinimum": 0, "maximum": 1}) == ("number, > 0, <= 1")
    assert allowed({"type": "string", "enum": ["a", "b"]}) == "`a` \\| `b`"
    assert allowed({"type": ["string", "null"]}) == "string or null"
    assert allowed({"type": "array", "items": {"type": "string"}, "minItems": 1}) == (
        "list of string, at least 1"
    )
    assert default({"default": None}) == "`null`" and default({}) == "required"
