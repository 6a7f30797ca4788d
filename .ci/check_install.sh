#!/usr/bin/env bash
# A plain `pip install .` (no extras) into a fresh venv must give a package whose every module imports and whose
# `brainfm` command runs. Installs from a copy of the working tree (tracked + untracked, not ignored files), so a
# file missing from the package data shows up here and nothing is written into the checkout.
#   .ci/check_install.sh                      torch==2.13.0 first (a CPU wheel on this project's CI machines)
#   TORCH_SPEC="torch==2.13.0 --index-url ..." .ci/check_install.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== copying the working tree to $WORK/src"
mkdir "$WORK/src"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
    | tar -C "$ROOT" --null --files-from=- --ignore-failed-read -cf - 2>/dev/null | tar -C "$WORK/src" -xf -

echo "== fresh venv, $TORCH_SPEC first, then 'pip install .' without extras"
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --quiet)
# shellcheck disable=SC2086  # TORCH_SPEC may carry pip options, e.g. --index-url
"${PIP[@]}" install $TORCH_SPEC
"${PIP[@]}" install "$WORK/src"

echo "== importing every module of the installed package"
cd "$WORK"  # not the checkout: the import must find the installed copy
MPLBACKEND=Agg "$WORK/venv/bin/python" - <<'PY'
import importlib
import importlib.metadata
import importlib.resources
import pkgutil

import brainfm_lite

assert "site-packages" in brainfm_lite.__file__, f"imported from {brainfm_lite.__file__}, not the installed copy"
names = ["brainfm_lite"] + [m.name for m in pkgutil.walk_packages(brainfm_lite.__path__, "brainfm_lite.")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:  # report them all, not just the first
        failed[name] = f"{type(error).__name__}: {error}"
for name, error in failed.items():
    print(f"FAILED {name}: {error}")
assert not failed, f"{len(failed)} of {len(names)} modules do not import with the core dependencies"
print(f"all {len(names)} modules import")

version = importlib.metadata.version("brainfm-lite")
assert version == brainfm_lite.__version__, (version, brainfm_lite.__version__)
files = importlib.resources.files("brainfm_lite")
assert files.joinpath("py.typed").is_file(), "py.typed is not shipped"
assert files.joinpath("profiles", "smoke.yaml").is_file(), "the profiles are not shipped"
print(f"brainfm-lite {version}: py.typed and profiles shipped")
PY

echo "== brainfm --help"
"$WORK/venv/bin/brainfm" --help > /dev/null
echo "install check passed"
