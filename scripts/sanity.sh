#!/usr/bin/env bash
# Run `ansible-test sanity` for the clawdeploy.openclaw collection, offline except for
# the Python package index.
#
# Usage: scripts/sanity.sh                 every test below, then compile+import on the
#                                          target Pythons
#        scripts/sanity.sh ARGS...         one run with extra `ansible-test sanity` ARGS,
#                                          e.g. --test pylint plugins/modules/openclaw_secret.py
# Environment: VENV (default .venv), SANITY_PYTHON (controller side, default 3.11),
#              SANITY_TARGET_PYTHONS (default "3.8 3.13"), SANITY_KEEP=1 keeps the copy.
#
# Why a copy: ansible-test must run inside a real .../ansible_collections/clawdeploy/openclaw
# directory and resolves the working directory, so the .cache/collections symlink tree is
# rejected ("No ansible_collections parent directory was found"). The collection's files
# (`git ls-files`: tracked plus untracked, not ignored) are copied to a temporary tree.
#
# Why a stand-in get-pip: --venv bootstraps pip into its virtualenvs with a get-pip.py that
# ansible-test downloads from a host that is not reachable here. ansible-test reads it from
# its cache first, so a small stand-in goes there: it bootstraps pip with ensurepip and then
# installs the pinned pip from the package index. The per-test virtualenvs are kept under
# ~/.ansible/test/venv and reused by later runs.
#
# Tests run (ansible-test 2.19, controller Python 3.11): action-plugin-docs ansible-doc
#   changelog compile empty-init ignores import line-endings no-assert no-get-exception
#   no-illegal-filenames no-smart-quotes pep8 pylint replace-urlopen runtime-metadata shebang
#   symlinks use-argspec-type-path use-compat-six validate-modules yamllint, then compile and
#   import again on each target Python (3.8: oldest supported target, 3.13: Debian 13).
# Tests skipped:
#   pslint      PowerShell modules only; the collection has none (and there is no pwsh).
#   and the shellcheck test, but only when the shellcheck program is missing (Debian
#               package `shellcheck`; without it the test cannot run).
#   changelog   runs, but is a no-op until changelogs/config.yaml exists.
# Wall time (2 cores): about 2 min with an empty ~/.ansible/test/venv (virtualenvs are
# created and filled from the index), about 45 s once it holds them.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
ansible_test=$venv/bin/ansible-test
controller_python=${SANITY_PYTHON:-3.11}
target_pythons=${SANITY_TARGET_PYTHONS:-3.8 3.13}
start=$(date +%s)

[ -x "$ansible_test" ] || { echo "sanity.sh: $ansible_test not found; create the venv first" >&2; exit 2; }

# --- stand-in for ansible-test's pip bootstrap script ---------------------------------
pip_version=$("$venv/bin/python" - <<'EOF'
import re, ansible_test._internal.python_requirements as r, inspect
src = inspect.getsource(r.get_venv_packages)
print(re.search(r"pip='([0-9.]+)'", src).group(1))
EOF
)
get_pip=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$get_pip" ] || ! grep -q "clawdeploy stand-in" "$get_pip"; then
  mkdir -p "$(dirname "$get_pip")"
  cat >"$get_pip" <<'EOF'
"""clawdeploy stand-in for get-pip.py: ensurepip, then pip from the package index."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
EOF
fi

# --- a real ansible_collections/clawdeploy/openclaw tree --------------------------------
top=$(mktemp -d "${TMPDIR:-/tmp}/clawdeploy-sanity.XXXXXX")
if [ "${SANITY_KEEP:-0}" = 1 ]; then
  echo "sanity.sh: keeping $top"
else
  trap 'rm -rf "$top"' EXIT
fi
work=$top/ansible_collections/clawdeploy/openclaw
mkdir -p "$work"
(
  cd "$repo"
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$work" -xf -
)

# --- interpreters -------------------------------------------------------------------------
# pyenv shims only answer for the selected version; put each wanted version's bin first.
python_dir() {
  local v=$1 d
  command -v "python$v" >/dev/null 2>&1 && "python$v" -c '' 2>/dev/null && { echo ""; return 0; }
  for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin; do
    [ -x "$d/python$v" ] && { echo "$d"; return 0; }
  done
  return 1
}

skip=(--skip-test pslint)
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "sanity.sh: shellcheck not installed, skipping the shellcheck test"
  skip+=(--skip-test shellcheck)
fi

status=0
cd "$work"
run() {
  echo "+ ansible-test sanity $*"
  "$ansible_test" sanity --venv --color no "$@" || status=1
}

if [ $# -gt 0 ]; then
  run --python "$controller_python" "${skip[@]}" "$@"
else
  run --python "$controller_python" "${skip[@]}"
  for v in $target_pythons; do
    if dir=$(python_dir "$v"); then
      PATH=${dir:+$dir:}$PATH run --python "$v" --test compile --test import
    else
      echo "sanity.sh: Python $v not found, skipping compile/import on it"
    fi
  done
fi

echo "sanity.sh: wall time $(($(date +%s) - start)) s, $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
