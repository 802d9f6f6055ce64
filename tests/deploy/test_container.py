"""The Dockerfile and compose.yaml, checked without a Docker engine: parsed with maintained
parsers (dockerfile-parse, PyYAML), every creditpay command they run exists in the CLI, and
docs/operations.md documents the same commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from tests.deploy.cli_paths import split, unknown_parts

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "operations.md"
SERVICES = {"api", "worker", "scheduler", "postgres", "migrate"}
# What the Debian-slim image must install for WeasyPrint (as scripts/ensure-system-deps.sh).
WEASYPRINT_LIBS = ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b")


@pytest.fixture(scope="module")
def dockerfile() -> list[dict]:
    return DockerfileParser(path=str(ROOT / "Dockerfile")).structure


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _stages(structure: list[dict]) -> dict[str, list[dict]]:
    stages: dict[str, list[dict]] = {}
    current: list[dict] = []
    for item in structure:
        if item["instruction"] == "FROM":
            current = [item]
            name = item["value"].split()[-1] if " AS " in item["value"].upper() else str(
                len(stages))
            stages[name] = current
        elif item["instruction"] != "COMMENT":
            current.append(item)
    return stages


def test_the_image_is_slim_python_311_and_runs_as_a_user_not_root(dockerfile):
    stages = _stages(dockerfile)
    first_from = next(i for i in dockerfile if i["instruction"] == "FROM")["value"]
    assert first_from.split()[0] == "python:3.11-slim"
    final_name, final = list(stages.items())[-1]
    assert final_name == "runtime"  # the default target is the production image
    # Its chain of stages leads to the slim base.
    assert final[0]["value"].split()[0] == "base"
    users = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}
    run = " ".join(i["value"] for i in dockerfile if i["instruction"] == "RUN")
    assert "useradd" in run and "--no-install-recommends" in run
    for lib in WEASYPRINT_LIBS:
        assert lib in run, lib
    assert "gcc" not in run and "build-essential" not in run
    entrypoint = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert json.loads(entrypoint[-1]) == ["creditpay"]
    cmd = json.loads([i["value"] for i in final if i["instruction"] == "CMD"][-1])
    assert unknown_parts(cmd) == []


def test_the_dev_stage_runs_make_test(dockerfile):
    stages = _stages(dockerfile)
    dev = stages["dev"]
    assert [i for i in dev if i["instruction"] == "USER"][-1]["value"].strip() != "root"
    assert json.loads([i["value"] for i in dev if i["instruction"] == "CMD"][-1]) == [
        "make", "test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^VENV \?= \.venv$", makefile, re.M)  # the image points it at /opt/venv
    assert re.search(r"^install: \$\(STAMP\)$", makefile, re.M)


def test_compose_runs_the_platform_in_production_mode(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    postgres = services["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"  # the official image
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["api"]["command"][:1] == ["serve"]
    assert {"--host", "0.0.0.0", "--workers", "2"} <= set(services["api"]["command"])
    assert services["worker"]["command"] == ["worker"]
    assert services["scheduler"]["command"] == ["scheduler"]
    for name in ("api", "worker", "scheduler"):
        service = services[name]
        assert service["environment"]["CREDITPAY_MODE"] == "production"
        assert service["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully")
        # Secrets are files, never values in the environment.
        assert service["environment"]["CREDITPAY_MASTER_KEY_FILE"].startswith("/run/secrets/")
        assert "CREDITPAY_MASTER_KEY" not in service["environment"]
        assert not any("password" in str(v).lower() and "://" in str(v)
                       for v in service["environment"].values())
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/health/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert set(compose["secrets"]) >= {"master_key"}


def test_every_creditpay_command_compose_runs_exists(compose):
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        assert unknown_parts(service["command"]) == [], name


def _documented_commands() -> list[str]:
    """Every command line of the guide that runs creditpay: code-block lines starting with
    it (after variable assignments; a trailing # comment dropped) and inline code spans."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)
    found = []
    for line in (line.strip() for block in blocks for line in block.splitlines()):
        match = re.match(r"(?:[A-Z_]+=\S+\s+)*(creditpay\s[^#]*)", line)
        if match:
            found.append(match.group(1).strip())
    found += re.findall(r"`(creditpay [^`]+)`", text)
    return found


def test_the_operations_guide_documents_commands_that_exist(compose):
    documented = _documented_commands()
    assert len(documented) >= 10
    for line in documented:
        args = [a for a in split(line) if not re.fullmatch(r"[A-Z_]+|<.*>|\.\.\.", a)]
        assert unknown_parts(args) == [], line
    # The commands compose runs are the ones the guide explains.
    text = DOCS.read_text(encoding="utf-8")
    for service in ("api", "worker", "scheduler", "migrate"):
        command = " ".join(["creditpay", *compose["services"][service]["command"]])
        assert command in text, command
    assert "docker compose up" in text and "compose.yaml" in text
