"""The OpenAPI document is one a standard client generator can use: every operation has a
readable, unique operationId, no two schemas share a name, and openapi-python-client
generates a client from it that parses every schema, with a module per operation named
after it (the client is imported, not just generated)."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess  # nosec B404 - runs the generator installed in this environment
import sys
from pathlib import Path

import pytest

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings.of(database_url=f"sqlite:///{folder / 'api.db'}"),
                     config=ApiConfig(master_key=LocalMasterKey(generate_key_bytes()),
                                      background_jobs=False))
    try:
        return app.openapi()
    finally:
        app.state.runtime.close()


def _operations(spec: dict) -> list[tuple[str, str, str]]:
    return [(op["operationId"], path, method) for path, item in spec["paths"].items()
            for method, op in item.items()]


def test_every_operation_id_is_a_readable_unique_name(spec):
    operations = _operations(spec)
    ids = [operation_id for operation_id, _, _ in operations]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert [i for i in ids if not _IDENTIFIER.match(i) or "_v1_" in i] == []
    assert "create_intent" in ids and "confirm" in ids


def test_no_two_schemas_share_a_name(spec):
    """FastAPI names a component after its model class; two classes of one name (two
    ``ResolveIn``) became module-qualified names a client cannot read."""
    names = list(spec["components"]["schemas"])
    assert [n for n in names if "__" in n] == []


def test_a_standard_generator_builds_a_client_that_imports(spec, tmp_path):
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is in the dev extra"
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(spec), encoding="utf-8")
    out = tmp_path / "client"
    done = subprocess.run(  # nosec B603 - fixed arguments
        [generator, "generate", "--path", str(document), "--output-path", str(out),
         "--meta", "none"], capture_output=True, text=True, timeout=300, check=False,
        # Its post-generation step formats with ruff, installed beside it.
        env={**os.environ, "PATH": f"{Path(generator).parent}{os.pathsep}{os.environ['PATH']}"})
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Warning" not in report and "Unable to" not in report, report
    package = out.name
    sys.path.insert(0, str(out.parent))
    try:
        client = importlib.import_module(package)
        assert hasattr(client, "AuthenticatedClient")
        modules = {p.stem for p in (out / "api").rglob("*.py") if p.stem != "__init__"}
        missing = [operation_id for operation_id, _, _ in _operations(spec)
                   if operation_id not in modules]
        assert missing == []
        confirm = next((out / "api").rglob("confirm.py")).relative_to(out.parent)
        module = importlib.import_module(".".join(confirm.with_suffix("").parts))
        assert callable(module.sync) and callable(module.sync_detailed)
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
