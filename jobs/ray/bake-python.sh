#!/bin/sh
# bake-python.sh TARGET VENV: a Python for the Ray jobs with their packages installed once, so
# that no job installs anything at run time (the ray_job_python setting names TARGET/bin/python;
# infra/Dockerfile bakes /opt/hybrid/ray-jobs). It sees VENV's packages (a .pth file puts them
# on its path) with those of runtime_env.yaml in front: Ray Data needs a newer pyarrow than
# PyFlink, in VENV, allows.
set -eu
target=$1
venv=$2
here=$(dirname "$0")

"$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')" -m venv "$target"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
purelib "$venv/bin/python" >"$(purelib "$target/bin/python")/hybrid-venv.pth"
"$venv/bin/python" -c 'import sys, yaml; print(*yaml.safe_load(open(sys.argv[1]))["uv"], sep="\n")' \
  "$here/runtime_env.yaml" >"$target/packages.txt"
"$venv/bin/uv" pip install --quiet --python "$target/bin/python" --no-deps -r "$target/packages.txt"
