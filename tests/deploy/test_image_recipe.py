"""Replays a service Dockerfile without Docker, to prove its recipe builds a working image.

The build stage's steps run as written (the RUN commands are taken from the Dockerfile) in a
throwaway venv standing in for the image's Python, with the container paths (/src, /wheels, /tmp)
mapped into a temp directory: uv from PyPI, `uv export` of this service's pins from uv.lock,
`pip wheel` of them (sdist-only packages built here), `uv build` of core and the service. Then
the runtime stage's install step runs offline (`pip install --no-index`) into a fresh venv, and
that venv's `scaisend --help` must list the service's command and nothing of the other services
(issue 2's acceptance criterion). Only the apt-get and useradd steps are skipped: they need root
in an image, not in a test. Runs `api` by default; SCAISEND_RECIPE_SERVICES=api,worker,smtp
replays the others too (about a minute each, mostly downloads).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.chart import ROOT, SERVICES
from tests.deploy.dockerfile import Instruction, Stage, parse

COMMANDS = {"api": "serve", "worker": "worker", "smtp": "smtp"}
RECIPE_SERVICES = os.environ.get("SCAISEND_RECIPE_SERVICES", "api").split(",")
CONTAINER_DIRS = ("/src", "/wheels", "/tmp")  # what the Dockerfiles write to
SKIPPED_PREFIXES = ("apt-get ", "groupadd ")  # need root in an image; nothing to prove here
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".mypy_cache", "dist", "build"
)
TIMEOUT = 600

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * TIMEOUT)]


@dataclass
class Replay:
    service: str
    fs: Path  # stands for the container's /
    runtime: Path  # the runtime stage's Python environment
    skipped: list[str]
    log: list[str]

    @property
    def wheels(self) -> list[str]:
        return sorted(p.name for p in (self.fs / "wheels").glob("*.whl"))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=_hermetic_env(self.runtime / "bin", {"COLUMNS": "200", "NO_COLOR": "1"}),
        )


def _hermetic_env(bin_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The machine's environment minus what redirects pip or uv to other packages.

    This machine's pip config adds a local wheel directory and a constraints file; an image
    build has neither, so they must not help (or hinder) the replay.
    """
    keep_pip = {"PIP_CERT", "PIP_DEFAULT_TIMEOUT"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("PIP_") and k not in keep_pip)
        and not k.startswith("UV_")
        and k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        **extra,
    }
    return env


def _map_paths(command: str, fs: Path) -> str:
    """Container paths -> the temp root; any other absolute path in a replayed step is an error."""
    pattern = re.compile(
        r"(?<![\w./-])(" + "|".join(map(re.escape, CONTAINER_DIRS)) + r")(?=[/\s\"']|$)"
    )
    mapped = pattern.sub(lambda m: f"{fs}{m.group(1)}", command)
    for word in shlex.split(mapped):
        path = word.split("=", 1)[-1]
        if path.startswith("/") and not path.startswith(str(fs)):
            raise AssertionError(
                f"step uses a path the replay does not map: {word!r} in {command!r}"
            )
    return mapped


def _make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def _arg_and_env(instruction: Instruction, env: dict[str, str]) -> None:
    if instruction.keyword == "ARG":
        name, sep, default = instruction.value.partition("=")
        if sep:
            env.setdefault(name.strip(), default.strip().strip('"'))
    elif instruction.keyword == "ENV":
        for pair in shlex.split(instruction.value):
            name, _, value = pair.partition("=")
            env[name] = value


def _run_step(command: str, cwd: Path, env: dict[str, str], log: list[str]) -> None:
    log.append(f"$ {command}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    log.append(result.stdout[-2000:] + result.stderr[-4000:])
    assert result.returncode == 0, "\n".join(log)


def _copy(instruction: Instruction, workdir: Path, fs: Path) -> None:
    """COPY from the build context (the repository root), with Docker's semantics."""
    sources, dest = instruction.copy_paths
    target = Path(_map_paths(dest, fs)) if dest.startswith("/") else workdir / dest
    for source in sources:
        src = ROOT / source
        if src.is_dir():  # a directory's contents go into the destination
            shutil.copytree(src, target, ignore=IGNORED, dirs_exist_ok=True)
        elif dest.endswith("/") or len(sources) > 1:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / src.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def _replay_build(stage: Stage, fs: Path, bin_dir: Path, replay: Replay) -> None:
    env = _hermetic_env(bin_dir, {})
    workdir = fs
    for instruction in stage.instructions[1:]:
        keyword = instruction.keyword
        if keyword in ("ARG", "ENV"):
            _arg_and_env(instruction, env)
        elif keyword == "WORKDIR":
            workdir = Path(_map_paths(instruction.value, fs))
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            _copy(instruction, workdir, fs)
        elif keyword == "RUN":
            if instruction.command.startswith(SKIPPED_PREFIXES):
                replay.skipped.append(instruction.command)
                continue
            _run_step(_map_paths(instruction.command, fs), workdir, env, replay.log)
        else:
            raise AssertionError(f"the replay does not know {keyword} (line {instruction.line})")


def _replay_runtime(stage: Stage, fs: Path, bin_dir: Path, replay: Replay) -> None:
    env = _hermetic_env(bin_dir, {})
    for instruction in stage.instructions[1:]:
        if instruction.keyword in ("ARG", "ENV"):
            _arg_and_env(instruction, env)
        elif instruction.keyword == "RUN":
            mounts = instruction.mounts
            if not any(m.get("from") == "build" for m in mounts):
                assert instruction.command.startswith(SKIPPED_PREFIXES), instruction.command
                replay.skipped.append(instruction.command)
                continue
            for mount in mounts:
                assert mount["source"] == mount["target"], "the replay maps build paths 1:1"
            _run_step(_map_paths(instruction.command, fs), fs, env, replay.log)


def replay_dockerfile(service: str, tmp: Path) -> Replay:
    build, runtime = parse(ROOT / "services" / service / "Dockerfile")
    fs = tmp / "fs"
    fs.mkdir()
    (fs / "tmp").mkdir()
    replay = Replay(service, fs, tmp / "runtime", [], [])
    _replay_build(build, fs, _make_venv(tmp / "build-python"), replay)
    _replay_runtime(runtime, fs, _make_venv(replay.runtime), replay)
    return replay


@pytest.fixture(scope="module", params=RECIPE_SERVICES)
def replay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Replay:
    service = str(request.param)
    assert service in SERVICES
    return replay_dockerfile(service, tmp_path_factory.mktemp(f"image-{service}"))


def _help_commands(help_text: str) -> set[str]:
    """Command names from Typer's help (rich box or plain)."""
    _, _, commands = help_text.partition("Commands")
    found = set()
    for line in commands.splitlines():
        match = re.match(r"^[\s│|]*([a-z][a-z0-9-]*)(\s{2,}|\s*│?\s*$)", line)
        if match:
            found.add(match.group(1))
    return found


def test_only_the_expected_steps_were_skipped(replay: Replay) -> None:
    assert [s.split()[0] for s in replay.skipped] == ["apt-get", "groupadd"]


def test_wheels_are_core_this_service_and_third_party(replay: Replay) -> None:
    ours = {w.split("-")[0] for w in replay.wheels if w.startswith("scaisend")}
    assert ours == {"scaisend_core", f"scaisend_{replay.service}"}
    assert all(w.endswith(".whl") for w in replay.wheels)
    if replay.service == "worker":  # sdist-only on PyPI, built into wheels by the build stage
        names = {w.split("-")[0].lower() for w in replay.wheels}
        assert {"pybars3", "pymeta3"} <= names


def test_runtime_holds_only_core_and_this_service(replay: Replay) -> None:
    listed = replay.run(
        str(replay.runtime / "bin" / "python"), "-m", "pip", "list", "--format=json"
    )
    assert listed.returncode == 0, listed.stderr
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    ours = {n for n in names if n.startswith("scaisend")}
    assert ours == {"scaisend-core", f"scaisend-{replay.service}"}


def test_scaisend_help_shows_this_service_and_no_other(replay: Replay) -> None:
    result = replay.run(str(replay.runtime / "bin" / "scaisend"), "--help")
    assert result.returncode == 0, result.stderr
    commands = _help_commands(result.stdout)
    assert {"migrate", "tenants", "keys", COMMANDS[replay.service]} <= commands, result.stdout
    others = {COMMANDS[s] for s in SERVICES if s != replay.service}
    assert not commands & others, result.stdout


def test_registered_commands_are_exactly_this_services(replay: Replay) -> None:
    script = (
        "from importlib.metadata import entry_points\n"
        "print(sorted(e.name for e in entry_points(group='scaisend.commands')))"
    )
    result = replay.run(str(replay.runtime / "bin" / "python"), "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([COMMANDS[replay.service]])


def test_service_package_imports_with_the_image_dependencies(replay: Replay) -> None:
    """Everything the service imports at start-up is in its wheels (not just in the dev venv)."""
    modules = {"api": "scaisend_api.app", "worker": "scaisend_worker", "smtp": "scaisend_smtp"}
    result = replay.run(
        str(replay.runtime / "bin" / "python"), "-c", f"import {modules[replay.service]}"
    )
    assert result.returncode == 0, result.stderr


def test_help_parser_reads_typer_output() -> None:
    sample = (
        "╭─ Commands ─╮\n│ migrate  Create or upgrade the schema   │\n"
        "│          twice is a no-op.   │\n│ serve    Run the HTTP API. │\n╰──╯\n"
    )
    assert _help_commands(sample) == {"migrate", "serve"}
    assert sys.executable  # the replay builds its venvs from this interpreter
