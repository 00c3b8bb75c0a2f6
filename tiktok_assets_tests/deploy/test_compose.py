"""docker-compose.yml: valid under the Compose Specification's JSON schema, and the topology the README promises.

The schema is the compose-spec project's ``schema/compose-spec.json``
(github.com/compose-spec/compose-spec, the file `docker compose config`
validates against), as check-jsonschema 0.39.0 ships it
(``check_jsonschema/builtin_schemas/vendor/compose-spec.json``).
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources

import pytest

from tiktok_assets_tests.deploy.support import (
    COMPOSE_FILE,
    DEV_DEPENDENCY_HINT,
    REPO_ROOT,
    load_yaml,
    schema_errors,
)

DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|WAREHOUSE_URL", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    try:
        vendored = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    except ModuleNotFoundError:
        pytest.fail(f"check-jsonschema is not installed: {DEV_DEPENDENCY_HINT}", pytrace=False)
    return json.loads(vendored.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


def test_the_compose_file_is_valid_under_the_compose_spec_schema(compose_schema: dict, compose: dict) -> None:
    assert schema_errors(compose_schema, compose) == []


def test_the_schema_refuses_a_misspelt_service_key(compose_schema: dict, compose: dict) -> None:
    # The validation above can fail: a key Compose does not know is an error, not ignored.
    broken = copy.deepcopy(compose)
    broken["services"]["daemon"]["depend_on"] = broken["services"]["daemon"].pop("depends_on")
    errors = schema_errors(compose_schema, broken)
    assert any("depend_on" in error for error in errors), errors


def test_it_runs_postgres_the_code_server_the_webserver_and_the_daemon(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", *DAGSTER_SERVICES}
    assert "command" not in services["user_code"], "the code server is the image's own command (dagster api grpc)"
    for name in DAGSTER_SERVICES:
        # Built here, never pulled: each names the build of the one image.
        assert services[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert services[name]["image"] == services["user_code"]["image"], name
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/dagster_home/workspace.yaml"
        assert services[name]["depends_on"]["user_code"] == {"condition": "service_healthy"}


def test_every_dagster_container_shares_the_postgres_instance_and_the_deploy_config(compose: dict) -> None:
    for name in DAGSTER_SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        assert environment["DAGSTER_PG_HOST"] == "postgres", name
        assert environment["DAGSTER_PG_PASSWORD_FILE"] == "/run/secrets/postgres_password", name
        assert "postgres_password" in service["secrets"], name
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
        assert mounts["/opt/dagster/dagster_home/dagster.yaml"] == "./deploy/dagster.yaml", name
        assert mounts["/opt/dagster/dagster_home/workspace.yaml"] == "./deploy/workspace.yaml", name


def test_the_warehouse_defaults_to_the_same_postgres(compose: dict) -> None:
    environment = compose["services"]["user_code"]["environment"]
    # Empty by default: the image's entrypoint then points the warehouse at the instance's database
    # (tested in test_image.py); a value given in the shell or .env replaces it.
    assert environment["TIKTOK_WAREHOUSE_URL"] == "${TIKTOK_WAREHOUSE_URL:-}"


def test_no_secret_is_written_in_the_file(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                # Only an interpolation from the shell may stand there, never a literal.
                assert str(value).startswith("${") and str(value).endswith("}"), f"{name}: {key} holds a literal value"
    for secret, spec in compose["secrets"].items():
        path = (REPO_ROOT / spec["file"]).resolve()
        assert path.parent == (REPO_ROOT / "deploy" / "secrets").resolve(), secret
    ignored = (REPO_ROOT / "deploy" / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignored, "deploy/secrets/ must be git-ignored: it holds the tokens"


def test_only_the_ui_is_published_and_only_on_loopback(compose: dict) -> None:
    published = {name: service.get("ports", []) for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"webserver": ["127.0.0.1:3000:3000"]}
