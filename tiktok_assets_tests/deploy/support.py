"""What the deployment tests share: the repository's deployment files, read as their tools read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
INSTANCE_FILE = DEPLOY / "dagster.yaml"
WORKSPACE_FILE = DEPLOY / "workspace.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
LOCK_FILE = DEPLOY / "requirements.lock"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
HELM_KEYS_SCHEMA = Path(__file__).with_name("helm_values_keys.schema.json")

# The run tag that TikTok's per-advertiser limit (40133) is enforced on.
ADVERTISER_TAG = "tiktok/advertiser"
DEV_DEPENDENCY_HINT = ("add 'check-jsonschema==0.39.0' (it ships the compose-spec schema and needs jsonschema) to "
                       "[project.optional-dependencies] dev in pyproject.toml")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def jsonschema_module():  # noqa: ANN201 - the module, imported lazily so a missing one fails with the fix
    try:
        import jsonschema
    except ImportError:
        pytest.fail(f"jsonschema is not installed: {DEV_DEPENDENCY_HINT}", pytrace=False)
    return jsonschema


def schema_errors(schema: dict, document: object) -> list[str]:
    """Every violation of ``schema`` in ``document``, as 'path: message' lines (empty when valid)."""
    jsonschema = jsonschema_module()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return sorted(f"{'/'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
                  for error in validator.iter_errors(document))
