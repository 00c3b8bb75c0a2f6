"""The code-location image without Docker: the Dockerfile's promises, its pins, and its entrypoint run by sh.

No Docker daemon here: the Dockerfile is read as Docker reads it (one
instruction a line, JSON-form CMD/ENTRYPOINT), the build context is computed
from .dockerignore, and the entrypoint script runs under /bin/sh.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tiktok_assets_tests.deploy.support import DOCKERFILE, DOCKERIGNORE, ENTRYPOINT, LOCK_FILE, REPO_ROOT

GRPC_COMMAND = ["dagster", "api", "grpc", "-m", "tiktok_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def _in_build_context(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (last matching pattern wins, '!' re-includes)."""
    included = True
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes) or fnmatch.fnmatchcase(path, pattern):
            included = negate
    return included


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_a_slim_python_3_11_base_and_a_non_root_user() -> None:
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users, "the image must not run as root"
    user = users[-1].split(":")[0]
    assert user not in {"0", "root"}
    last_user = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "USER")
    assert all(instruction not in {"RUN", "COPY", "ADD"} or i < last_user
               for i, (instruction, _) in enumerate(instructions)), "nothing is built after switching user"


def test_the_container_serves_the_code_location_over_grpc() -> None:
    commands = {instruction: json.loads(arguments) for instruction, arguments in _instructions()
                if instruction in {"CMD", "ENTRYPOINT"}}
    assert commands["CMD"] == GRPC_COMMAND
    assert commands["ENTRYPOINT"] == ["/usr/local/bin/docker-entrypoint.sh"]
    assert ("EXPOSE", "4000") in _instructions()


def test_everything_copied_is_in_the_build_context() -> None:
    for instruction, arguments in _instructions():
        if instruction != "COPY":
            continue
        sources = [part for part in arguments.split() if not part.startswith("--")][:-1]
        for source in sources:
            source = source.rstrip("/")
            assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file"
            assert _in_build_context(source), f"COPY {source}: .dockerignore leaves it out of the build context"
    for private in ("deploy/secrets/tiktok_access_token", ".env", "tiktok_warehouse.sqlite", ".dagster_home/x"):
        assert not _in_build_context(private), f"{private} would be sent to the Docker daemon"


def test_packages_are_installed_from_the_lock_only() -> None:
    runs = [arguments for instruction, arguments in _instructions() if instruction == "RUN" and "pip install" in arguments]
    assert runs and all("--no-deps" in run for run in runs), "every pip install must resolve nothing (the lock did)"
    assert "-r deploy/requirements.lock" in runs[0]


def test_the_lock_satisfies_every_pinned_dependency_of_pyproject() -> None:
    pins = _lock()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} (pyproject.toml) is missing from {LOCK_FILE.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK_FILE.name} pins {requirement.name}=={pins[name]}, outside pyproject's {requirement.specifier}")
    # dagster-k8s (run launcher, k8s_job_executor) is of the same Dagster release as dagster-postgres.
    assert pins["dagster-k8s"] == pins["dagster-postgres"]
    assert pins["setuptools"], "the build backend is pinned too (pip install --no-build-isolation)"


def _entrypoint(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    # Only what the container would have: PATH (for python) and the variables under test.
    base = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["sh", str(ENTRYPOINT), *command], env=base | env, capture_output=True, text=True, timeout=30)


def _print_env(*names: str) -> list[str]:
    return ["python", "-c", "import json, os, sys; print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))",
            *names]


def test_secret_files_become_variables_and_their_file_variables_go(tmp_path: Path) -> None:
    token = tmp_path / "tiktok_access_token"
    token.write_text("act.a'b\"c$(touch /tmp/pwned)\n")
    empty = tmp_path / "tiktok_app_secret"
    empty.write_text("")
    done = _entrypoint({"TIKTOK_ACCESS_TOKEN_FILE": str(token), "TIKTOK_APP_SECRET_FILE": str(empty)},
                       *_print_env("TIKTOK_ACCESS_TOKEN", "TIKTOK_ACCESS_TOKEN_FILE", "TIKTOK_APP_SECRET"))
    assert done.returncode == 0, done.stderr
    # The content is taken as it is (never run by the shell), less the trailing newline.
    assert json.loads(done.stdout) == {"TIKTOK_ACCESS_TOKEN": "act.a'b\"c$(touch /tmp/pwned)",
                                       "TIKTOK_ACCESS_TOKEN_FILE": None, "TIKTOK_APP_SECRET": ""}


def test_other_file_variables_are_paths_and_stay_as_they_are(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    done = _entrypoint({"SSL_CERT_FILE": str(bundle)}, *_print_env("SSL_CERT_FILE", "SSL_CERT"))
    assert json.loads(done.stdout) == {"SSL_CERT_FILE": str(bundle), "SSL_CERT": None}


def test_a_missing_secret_file_stops_the_container_naming_the_variable(tmp_path: Path) -> None:
    done = _entrypoint({"TIKTOK_ACCESS_TOKEN_FILE": str(tmp_path / "absent")}, "true")
    assert done.returncode == 64
    assert "TIKTOK_ACCESS_TOKEN_FILE" in done.stderr and str(tmp_path / "absent") in done.stderr


def test_the_warehouse_defaults_to_the_instance_database_with_the_password_quoted(tmp_path: Path) -> None:
    password = tmp_path / "postgres_password"
    password.write_text("p@ss/w:rd%?#\n")
    instance = {"DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "dagster",
                "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_PASSWORD_FILE": str(password)}
    done = _entrypoint(instance, *_print_env("TIKTOK_WAREHOUSE_URL", "DAGSTER_PG_PASSWORD"))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    url = sa.engine.make_url(shown["TIKTOK_WAREHOUSE_URL"])
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg", "dagster", "p@ss/w:rd%?#", "postgres", 5432, "dagster")
    assert shown["DAGSTER_PG_PASSWORD"] == "p@ss/w:rd%?#"

    chosen = "postgresql+psycopg://reader@warehouse:5432/analytics"
    done = _entrypoint(instance | {"TIKTOK_WAREHOUSE_URL": chosen}, *_print_env("TIKTOK_WAREHOUSE_URL"))
    assert json.loads(done.stdout) == {"TIKTOK_WAREHOUSE_URL": chosen}


@pytest.mark.parametrize("env", [{}, {"TIKTOK_WAREHOUSE_URL": ""}])
def test_without_an_instance_database_the_warehouse_is_left_to_its_own_default(env: dict[str, str]) -> None:
    done = _entrypoint(env, *_print_env("TIKTOK_WAREHOUSE_URL"))
    assert json.loads(done.stdout)["TIKTOK_WAREHOUSE_URL"] in (None, "")
