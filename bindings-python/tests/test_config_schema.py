"""The TypedDicts of ``cozefallback`` (``_config.py``, used by ``_native.pyi``) against ``core/config.schema.json``,
the schema the core's parser is tested against: the same keys at every level, the same required keys per
credential type, and the same values for every enum."""

from __future__ import annotations

import json
import pathlib
import typing
from typing import Any, Dict, Literal, Union

import cozefallback
from cozefallback import _config

SCHEMA_PATH = pathlib.Path(__file__).resolve().parents[2] / "core" / "config.schema.json"
SCHEMA: Dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def resolve(node: Dict[str, Any]) -> Dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    defs: Dict[str, Any] = SCHEMA["$defs"]
    definition: Dict[str, Any] = defs[ref.rsplit("/", 1)[-1]]
    return definition


def is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__total__") and hasattr(tp, "__annotations__")


def compare(tp: Any, node: Dict[str, Any], where: str) -> None:
    node = resolve(node)
    if "oneOf" in node:
        # A credential: one TypedDict per schema variant, told apart by its `type` literal.
        variants = {resolve(v)["properties"]["type"]["const"]: resolve(v) for v in node["oneOf"]}
        assert typing.get_origin(tp) is Union, f"{where}: {tp} is not a union of credential types"
        by_tag = {}
        for member in typing.get_args(tp):
            (tag,) = typing.get_args(typing.get_type_hints(member)["type"])
            by_tag[tag] = member
        assert sorted(by_tag) == sorted(variants), f"{where}: credential types"
        for tag, variant in variants.items():
            compare(by_tag[tag], variant, f"{where}({tag})")
        return
    assert is_typeddict(tp), f"{where}: {tp} is not a TypedDict"
    hints = typing.get_type_hints(tp)
    missing = sorted(set(node["properties"]) - set(hints))
    extra = sorted(set(hints) - set(node["properties"]))
    assert not missing and not extra, f"{where}: {tp.__name__} lacks {missing}, has {extra} the schema does not"
    assert sorted(tp.__required_keys__) == sorted(node.get("required", [])), f"{where}: required keys"
    for name, prop in node["properties"].items():
        prop = resolve(prop)
        hint = hints[name]
        if prop.get("type") == "object" or "oneOf" in prop:
            compare(hint, prop, f"{where}.{name}")
        elif "enum" in prop:
            assert typing.get_origin(hint) is Literal, f"{where}.{name}: {hint} is not a Literal"
            assert sorted(typing.get_args(hint)) == sorted(prop["enum"]), f"{where}.{name}: values"
        elif "const" in prop:
            assert typing.get_args(hint) == (prop["const"],), f"{where}.{name}"


def test_config_dict_has_exactly_the_schemas_fields_at_every_level() -> None:
    compare(_config.ConfigDict, SCHEMA, "ConfigDict")


def test_every_section_of_the_schema_has_its_typeddict() -> None:
    sections = {k for k, v in SCHEMA["properties"].items() if v.get("type") == "object"}
    assert sections == {"fallback", "retry", "timeouts", "tls", "conversations", "state"}
    hints = typing.get_type_hints(_config.ConfigDict)
    for section in sections:
        assert is_typeddict(hints[section]), section


def test_the_package_exports_the_config_types() -> None:
    assert cozefallback.ConfigDict is _config.ConfigDict
    assert cozefallback.Credential is _config.Credential
    # The Client's `Config` alias accepts the typed dict (and, as before, any mapping or a JSON string).
    assert _config.ConfigDict in typing.get_args(cozefallback._client.Config)
