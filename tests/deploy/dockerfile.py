"""A small Dockerfile reader: instructions by stage, with RUN flags and COPY sources split out.

Enough for the three service Dockerfiles (no heredocs, no escape directive): comments and
parser directives are dropped, backslash continuations joined (comment lines inside a
continuation are skipped, as BuildKit does).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    value: str  # everything after the keyword, continuations joined
    line: int

    @property
    def flags(self) -> dict[str, str]:
        """Leading --name=value flags (RUN --mount, COPY --from/--chown)."""
        out = {}
        for word in shlex.split(self.value):
            if not word.startswith("--"):
                break
            name, _, val = word[2:].partition("=")
            out.setdefault(name, val)
        return out

    @property
    def mounts(self) -> list[dict[str, str]]:
        mounts = []
        for word in shlex.split(self.value):
            if not word.startswith("--"):
                break
            if word.startswith("--mount="):
                mounts.append(dict(p.split("=", 1) for p in word[len("--mount=") :].split(",")))
        return mounts

    @property
    def command(self) -> str:
        """RUN: the shell command without the leading flags."""
        rest = self.value.lstrip()
        while rest.startswith("--"):
            rest = rest.split(None, 1)[1] if " " in rest else ""
        return rest

    @property
    def exec_form(self) -> list[str]:
        """ENTRYPOINT/CMD in JSON (exec) form."""
        parsed = json.loads(self.value)
        assert isinstance(parsed, list), f"line {self.line}: not exec form: {self.value}"
        return [str(p) for p in parsed]

    @property
    def copy_paths(self) -> tuple[list[str], str]:
        """COPY/ADD: (sources, destination)."""
        words = [w for w in shlex.split(self.value) if not w.startswith("--")]
        return words[:-1], words[-1]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        lines.append((start, " ".join(p for p in current if p)))
        current = []
    if current:
        lines.append((start, " ".join(current)))
    return lines


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for number, line in _logical_lines(path.read_text()):
        keyword, _, value = line.partition(" ")
        instruction = Instruction(keyword.upper(), value.strip(), number)
        if instruction.keyword == "FROM":
            words = value.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{path}:{number}: {keyword} before FROM"
        stages[-1].instructions.append(instruction)
    return stages
