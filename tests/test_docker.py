"""The Dockerfile is production-shaped. No Docker engine runs here, so the file is read as Docker reads
it, and the commands it runs (the dependency list, the health check) are run against this checkout."""
from __future__ import annotations

import configparser
import json
import re
import shlex
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, free_port

pytestmark = pytest.mark.single_engine  # the Dockerfile and the compose file, read as text

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", "", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def index_of(kind: str, containing: str = "") -> int:
    return next(i for i, (k, args) in enumerate(instructions()) if k == kind and containing in args)


def test_it_runs_as_a_user_that_owns_the_data_volume():
    steps = instructions()
    user = [args for kind, args in steps if kind == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert index_of("USER") < index_of("CMD")
    assert f"chown {user[-1]}:{user[-1]} /data" in steps[index_of("RUN", "useradd")][1]
    assert ("VOLUME", '["/data"]') in steps and "OTABOX_DATA_DIR=/data" in steps[index_of("ENV")][1]
    assert "OTABOX_STATIC_DIR" not in DOCKERFILE, "the installed package carries the dashboard"
    assert json.loads(steps[index_of("CMD")][1]) == ["otabox", "serve"]


def test_dependencies_are_a_layer_of_their_own():
    """Installed from setup.cfg alone, before the source is copied, so a source edit reuses the layer."""
    steps = instructions()
    dependencies = index_of("RUN", "pip install --no-cache-dir -r")
    assert index_of("COPY", "setup.cfg") < dependencies < index_of("COPY", ". /src")
    assert [args for kind, args in steps[:dependencies] if kind == "COPY"] == ["setup.cfg /tmp/setup.cfg"]
    listing = shlex.split(steps[dependencies][1].split(">")[0].replace("/tmp/setup.cfg", str(ROOT / "setup.cfg")))
    printed = subprocess.run([sys.executable, *listing[1:]], capture_output=True, text=True, check=True).stdout
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    expected = [line for line in config["options"]["install_requires"].splitlines() if line]
    assert [line for line in printed.splitlines() if line] == expected
    assert "--no-deps" in steps[index_of("RUN", "/src")][1]
    assert index_of("ARG", "OTABOX_EXTRAS") < dependencies
    with_extras = subprocess.run([sys.executable, *listing[1:]], capture_output=True, text=True, check=True,
                                 env={"OTABOX_EXTRAS": "postgres, s3"}).stdout
    wanted = expected + [line for extra in ("postgres", "s3")
                         for line in config["options.extras_require"][extra].splitlines() if line]
    assert [line for line in with_extras.splitlines() if line] == wanted


def test_the_health_check_asks_healthz_without_curl(live_server):
    check = instructions()[index_of("HEALTHCHECK")][1]
    command = json.loads(check[check.index("CMD") + 3:])
    assert "/healthz" in command[-1] and "curl" not in check and "wget" not in check
    assert command[0] == "python"

    def probe(port: int) -> int:
        return subprocess.run([sys.executable, *command[1:]], env={"OTABOX_PORT": str(port)},
                              capture_output=True, timeout=30).returncode

    assert probe(live_server.port) == 0
    assert probe(free_port()) != 0


def test_the_build_context_leaves_out_what_the_image_does_not_need():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "tests", "bench", "**/node_modules", "**/__pycache__", ".pytest_cache"} <= ignored
    assert not ignored & {"static", "otabox", "setup.cfg", "setup.py", "pyproject.toml", "README.md"}


def test_the_scale_out_example_is_one_box_on_one_database_and_bucket():
    """deploy/docker-compose.yml, read as Compose reads it: the replicas agree on everything they must
    share, and what they point at is what the other services provide."""
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = {name: service for name, service in services.items() if name.startswith("otabox-")}
    assert len(replicas) >= 2
    environments = [service["environment"] for service in replicas.values()]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert replicas["otabox-1"]["build"]["args"]["OTABOX_EXTRAS"] == "postgres,s3"
    assert len({tuple(service["volumes"]) for service in replicas.values()}) == len(replicas), "a data dir each"

    database = urlsplit(env["OTABOX_DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert (database.scheme, database.hostname, database.username, database.password, database.path) == (
        "postgresql", "postgres", postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], "/" + postgres["POSTGRES_DB"])
    assert env["OTABOX_SECRET_KEY"].startswith("${OTABOX_SECRET_KEY:?"), "the operator's own key, never a shared one"

    bucket = urlsplit(env["OTABOX_STORAGE_URL"])
    minio = services["minio"]["environment"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (minio["MINIO_ROOT_USER"],
                                                                        minio["MINIO_ROOT_PASSWORD"])
    assert urlsplit(env["OTABOX_S3_ENDPOINT_URL"]).hostname == "minio"
    setup = services["minio-setup"]["entrypoint"]
    assert f"mc mb --ignore-existing box/{bucket.hostname}" in setup
    assert f"mc anonymous set download box/{bucket.hostname}{bucket.path}" in setup

    balancer = services["balancer"]
    assert balancer["networks"]["otabox"]["ipv4_address"] == env["OTABOX_TRUSTED_PROXY"]
    site = (ROOT / "deploy" / balancer["volumes"][0].split(":")[0].removeprefix("./")).read_text()
    assert sorted(re.findall(r"server (otabox-\d+):8080", site)) == sorted(replicas)
    cdn = urlsplit(env["OTABOX_CDN_BASE_URL"])
    assert f"location {cdn.path}/ {{\n        proxy_pass http://minio:9000/{bucket.hostname}/;" in site
    assert cdn.port == int(balancer["ports"][0].split(":")[0]) == urlsplit(env["OTABOX_PUBLIC_URL"]).port
