"""The three service Dockerfiles, read statically: each image holds its own service and core only,
builds from the lock, and runs as an unprivileged user with no compilers."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from tests.deploy.chart import CHART, ROOT, SERVICES
from tests.deploy.dockerfile import Stage, parse

COMMANDS = {"api": "serve", "worker": "worker", "smtp": "smtp"}
EXPOSED = {"api": {"8000"}, "worker": {"9100"}, "smtp": {"2525", "9100"}}
COMPILERS = ("build-essential", "gcc", "g++", "clang", "make", "python3-dev", "libc6-dev")


def stages(service: str) -> list[Stage]:
    return parse(ROOT / "services" / service / "Dockerfile")


def test_every_service_has_a_dockerfile() -> None:
    found = {p.parent.name for p in (ROOT / "services").glob("*/Dockerfile")}
    assert found == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_two_stages_on_slim_python_311(service: str) -> None:
    build, runtime = stages(service)
    assert (build.name, runtime.name) == ("build", "runtime")
    for stage in (build, runtime):
        assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", stage.base), stage.base


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_never_mentions_another_service(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text().lower()
    for other in set(SERVICES) - {service}:
        for token in (f"scaisend-{other}", f"scaisend_{other}", f"services/{other}"):
            assert token not in text, f"{service}/Dockerfile mentions {token}"


@pytest.mark.parametrize("service", SERVICES)
def test_build_stage_copies_only_the_lock_core_and_this_service(service: str) -> None:
    build, _ = stages(service)
    sources = [src for copy in build.of("COPY") for src in copy.copy_paths[0]]
    assert sources == ["pyproject.toml", "uv.lock", "libs/scaisend-core/", f"services/{service}/"]


@pytest.mark.parametrize("service", SERVICES)
def test_build_stage_makes_wheels_from_the_lock(service: str) -> None:
    build, _ = stages(service)
    commands = " && ".join(run.command for run in build.of("RUN"))
    export = re.search(r"uv export ([^&]*)", commands)
    assert export, "no `uv export`"
    flags = shlex.split(export.group(1))
    for flag in ("--frozen", "--no-emit-workspace", "--no-dev"):
        assert flag in flags
    assert flags[flags.index("--package") + 1] == f"scaisend-{service}"
    assert "pip wheel --require-hashes" in commands
    built = re.findall(r"uv build --wheel --package (\S+)", commands)
    assert built == ["scaisend-core", f"scaisend-{service}"]


def test_uv_in_the_images_is_the_projects_uv() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    pinned = re.search(r'UV_VERSION="([^"]+)"', bootstrap)
    assert pinned
    for service in SERVICES:
        build, _ = stages(service)
        (arg,) = [a.value for a in build.of("ARG") if a.value.startswith("UV_VERSION=")]
        assert arg == f"UV_VERSION={pinned.group(1)}"


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_installs_only_this_services_wheels_offline(service: str) -> None:
    _, runtime = stages(service)
    installs = [run for run in runtime.of("RUN") if "pip install" in run.command]
    assert len(installs) == 1
    (install,) = installs
    assert install.mounts == [
        {"type": "bind", "from": "build", "source": "/wheels", "target": "/wheels"}
    ]
    words = shlex.split(install.command.split("&&")[0])
    assert words[:2] == ["pip", "install"]
    assert {"--no-index", "--find-links=/wheels", "--no-cache-dir"} <= set(words)
    assert [w for w in words[2:] if not w.startswith("--")] == [f"/wheels/scaisend_{service}-*.whl"]
    assert "pip check" in install.command
    # Wheels come in through the mount, never as a layer of their own.
    assert runtime.of("COPY") == []
    assert runtime.of("ADD") == []


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_has_no_compilers(service: str) -> None:
    _, runtime = stages(service)
    for run in runtime.of("RUN"):
        assert "apt-get install" not in run.command
        for compiler in COMPILERS:
            assert not re.search(rf"(^|\s){re.escape(compiler)}(\s|$)", run.command), compiler


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_the_unprivileged_user_the_chart_expects(service: str) -> None:
    _, runtime = stages(service)
    users = runtime.of("USER")
    assert users, "no USER"
    assert runtime.instructions.index(users[-1]) > max(
        runtime.instructions.index(r) for r in runtime.of("RUN")
    ), "USER must come after the last RUN"
    uid, _, gid = users[-1].value.partition(":")
    assert uid.isdigit(), "a numeric USER lets the kubelet verify runAsNonRoot"
    assert int(uid) != 0
    assert int(gid or uid) != 0
    useradd = " ".join(r.command for r in runtime.of("RUN"))
    assert f"--uid {uid}" in useradd
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid or uid)


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_is_scaisend_and_the_service_command(service: str) -> None:
    _, runtime = stages(service)
    assert runtime.of("ENTRYPOINT")[-1].exec_form == ["scaisend"]
    assert runtime.of("CMD")[-1].exec_form == [COMMANDS[service]]
    exposed = {p for e in runtime.of("EXPOSE") for p in e.value.split()}
    assert exposed == EXPOSED[service]


def test_exposed_ports_match_the_chart() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {str(values["api"]["containerPort"])} == EXPOSED["api"]
    assert {str(values["worker"]["metrics"]["port"])} == EXPOSED["worker"]
    assert {
        str(values["smtp"]["inbound"]["containerPort"]),
        str(values["smtp"]["metrics"]["port"]),
    } == (EXPOSED["smtp"])


def test_dockerignore_lets_in_only_what_the_images_copy() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "exclude everything, then let the build inputs back in"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    for service in SERVICES:
        build, _ = stages(service)
        for copy in build.of("COPY"):
            for source in copy.copy_paths[0]:
                assert source in allowed, f"{source} is excluded by .dockerignore"
    assert "**/__pycache__" in lines
