"""Validate rendered objects against a CRD's OpenAPI v3 schema, as an API server would.

A Kubernetes structural schema differs from plain JSON Schema in three ways that matter
here: an object's unknown fields are rejected (pruned, or refused under strict field
validation) unless `x-kubernetes-preserve-unknown-fields` says otherwise;
`x-kubernetes-int-or-string` admits both types; `nullable` admits null. The schema is
rewritten with those rules, then checked by the `jsonschema` library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml


def structural_to_jsonschema(node: Any) -> Any:
    if isinstance(node, list):
        return [structural_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: structural_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (out.get("type") == "object" or "properties" in out) and "properties" in out \
            and "additionalProperties" not in out and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if "metadata" in out.get("properties", {}) and out["properties"]["metadata"].get("type") == "object":
        out["properties"]["metadata"] = {"type": "object"}  # ObjectMeta is checked by the server's own schema
    return out


def load_schemas(crd_dir: Path) -> dict[tuple[str, str], dict]:
    """`{(apiVersion, kind): json schema}` for every served version of every CRD file."""
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = structural_to_jsonschema(version["schema"]["openAPIV3Schema"])
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def errors(obj: dict, schemas: dict[tuple[str, str], dict]) -> list[str]:
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in schemas:
        return [f"no CRD schema for {key}"]
    validator = jsonschema.Draft7Validator(schemas[key])
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj)]
