"""Validate documents against inference/translation.schema.json (the translation JSON and its $defs/batch)."""

from __future__ import annotations

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from inference.document import load_schema

SCHEMA = load_schema()
REGISTRY = Registry().with_resource(SCHEMA["$id"], DRAFT202012.create_resource(SCHEMA))
TRANSLATION = jsonschema.Draft202012Validator(SCHEMA, registry=REGISTRY)
BATCH = jsonschema.Draft202012Validator({"$ref": f"{SCHEMA['$id']}#/$defs/batch"}, registry=REGISTRY)


def validate_translation(doc: dict) -> dict:
    TRANSLATION.validate(doc)
    return doc


def validate_batch(doc: dict) -> dict:
    BATCH.validate(doc)
    return doc
