"""Check that the Pants lockfile was generated from 3rdparty/python/requirements.txt as it is now.

requirements.txt is exported from uv.lock (build-support/export-requirements.sh), and every line
pins an exact version, so the Pants resolve must lock exactly those versions: no more packages, no
fewer (except ones whose marker excludes Linux CPython 3.11), none at another version. Pants only
compares the lockfile header against the requirements when a goal reads the resolve; this checks
the header and the locked versions up front, in well under a second.

Usage: python build-support/check_lockfile.py  (exit 1 and a list of differences when stale)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "3rdparty/python/requirements.txt"
LOCKFILE = ROOT / "3rdparty/python/python-default.lock"
HEADER = re.compile(
    r"// --- BEGIN PANTS LOCKFILE METADATA: DO NOT EDIT OR REMOVE ---\n(.*?)// --- END", re.S
)
# The environment the resolve targets ([python].interpreter_constraints = CPython==3.11.*, Linux).
TARGET_ENV = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux"}


def _pins(lines: list[str]) -> dict[str, Requirement]:
    """Requirement lines by canonical project name (comments and blanks skipped)."""
    reqs = (
        Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")
    )
    return {canonicalize_name(r.name): r for r in reqs}


def _pinned_version(req: Requirement) -> str:
    (spec,) = req.specifier  # export-requirements writes name==version only
    return spec.version


def problems() -> list[str]:
    """Every difference between requirements.txt and the lockfile, as readable lines."""
    wanted = _pins(REQUIREMENTS.read_text().splitlines())
    text = LOCKFILE.read_text()
    header = HEADER.search(text)
    if header is None:
        return [f"{LOCKFILE.name}: no Pants metadata header"]
    meta = json.loads("".join(line[3:] + "\n" for line in header.group(1).splitlines()))
    found: list[str] = []
    generated = _pins(meta["generated_with_requirements"])
    if {n: str(r) for n, r in generated.items()} != {n: str(r) for n, r in wanted.items()}:
        added = sorted(set(wanted) - set(generated))
        gone = sorted(set(generated) - set(wanted))
        changed = sorted(
            n for n in set(wanted) & set(generated) if str(wanted[n]) != str(generated[n])
        )
        found.append(
            f"lockfile header differs from requirements.txt: new {added}, gone {gone}, changed {changed}"
        )
    body = json.loads("\n".join(line for line in text.splitlines() if not line.startswith("//")))
    locked = {
        canonicalize_name(r["project_name"]): r["version"]
        for r in body["locked_resolves"][0]["locked_requirements"]
    }
    for name, req in sorted(wanted.items()):
        applies = req.marker is None or req.marker.evaluate(TARGET_ENV)
        if applies and name not in locked:
            found.append(f"{name}: pinned in requirements.txt, not in the lockfile")
        elif name in locked and locked[name] != _pinned_version(req):
            found.append(
                f"{name}: requirements.txt pins {_pinned_version(req)}, the lockfile has {locked[name]}"
            )
    found.extend(
        f"{name}: in the lockfile, not in requirements.txt"
        for name in sorted(set(locked) - set(wanted))
    )
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(f"check_lockfile: {line}", file=sys.stderr)
    if found:
        print("check_lockfile: run scripts/pants generate-lockfiles", file=sys.stderr)
        return 1
    print(f"check_lockfile: {LOCKFILE.name} locks exactly the versions of requirements.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
