#!/usr/bin/env bash
# uv.lock is the one source of truth for third-party versions. This writes what Pants builds from it:
#   3rdparty/python/requirements.txt  the pinned set of the python-default resolve: every package of
#                                     every workspace member plus the dev group, without our own packages
#   3rdparty/python/BUILD.runtime     per distribution, a `target` depending on the requirements its
#                                     wheel needs at run time (the closure of its pyproject dependencies,
#                                     extras included), so a service PEX holds what `uv sync` would install
#                                     and not only what import inference sees
#   build-support/export-requirements.sh          rewrite both files
#   build-support/export-requirements.sh --check  exit 1 if either is stale against uv.lock, or the
#                                                 Pants lockfile against requirements.txt (CI: scripts/pants-check)
# After a rewrite, refresh the Pants lockfile: scripts/pants generate-lockfiles
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REQS="$ROOT/3rdparty/python/requirements.txt"
RUNTIME="$ROOT/3rdparty/python/BUILD.runtime"
UV="$ROOT/.tools/uv/bin/uv"
[ -x "$UV" ] || "$ROOT/scripts/bootstrap" >/dev/null   # installs the project's pinned uv into .tools/
DISTS="scaisend-core scaisend-api scaisend-worker scaisend-smtp"

export_() { (cd "$ROOT" && "$UV" export --frozen --no-emit-workspace --no-hashes --no-header --no-annotate --quiet "$@"); }

render_requirements() {
  echo "# Generated from uv.lock by build-support/export-requirements.sh; do not edit by hand."
  export_ --all-packages
}

render_runtime() {
  echo "# Generated from uv.lock by build-support/export-requirements.sh; do not edit by hand."
  echo "# The third-party closure of each distribution's run-time dependencies (uv export --package X"
  echo "# --no-dev): a service pex_binary depends on its own, so the PEX satisfies its wheels' metadata."
  for d in $DISTS; do
    echo
    echo "target("
    echo "    name=\"runtime-$d\","
    echo "    dependencies=["
    export_ --package "$d" --no-dev | sed -n 's/^\([A-Za-z0-9._-]*\)==.*/        ":reqs#\1",/p'
    echo "    ],"
    echo ")"
  done
}

case "${1:-}" in
  --check)
    stale=0
    diff -u "$REQS" <(render_requirements) >&2 || stale=1
    diff -u "$RUNTIME" <(render_runtime) >&2 || stale=1
    if [ "$stale" = 1 ]; then
      echo "export-requirements: 3rdparty/python/{requirements.txt,BUILD.runtime} are stale against uv.lock;" \
           "run build-support/export-requirements.sh, then scripts/pants generate-lockfiles" >&2
      exit 1
    fi
    echo "export-requirements: 3rdparty/python/requirements.txt and BUILD.runtime match uv.lock"
    PY="$ROOT/.venv/bin/python"; [ -x "$PY" ] || PY=python3   # needs `packaging`
    "$PY" "$ROOT/build-support/check_lockfile.py" ;;
  "")
    render_requirements > "$REQS"
    render_runtime > "$RUNTIME"
    echo "export-requirements: wrote 3rdparty/python/requirements.txt ($(grep -vc '^#' "$REQS") pins) and BUILD.runtime" ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
