"""Validate documents against inference/translation.schema.json (the translation JSON, its $defs/batch, $defs/what_if
and $defs/compare)."""

from __future__ import annotations

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from inference.document import load_schema

SCHEMA = load_schema()
REGISTRY = Registry().with_resource(SCHEMA["$id"], DRAFT202012.create_resource(SCHEMA))
TRANSLATION = jsonschema.Draft202012Validator(SCHEMA, registry=REGISTRY)
BATCH, WHAT_IF, COMPARE = (
    jsonschema.Draft202012Validator({"$ref": f"{SCHEMA['$id']}#/$defs/{name}"}, registry=REGISTRY)
    for name in ("batch", "what_if", "compare")
)


def validate(doc: dict, validator=TRANSLATION) -> dict:
    validator.validate(doc)
    return doc


def validate_translation(doc: dict) -> dict:
    return validate(doc)


def validate_batch(doc: dict) -> dict:
    return validate(doc, BATCH)
