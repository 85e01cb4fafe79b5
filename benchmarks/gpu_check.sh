#!/usr/bin/env bash
# One-shot GPU check for the grader, for the device machine (one NVIDIA H100/H200, root, no network).
# See benchmarks/gpu_check.md. Called there as
#
#     bash benchmarks/gpu_check.sh          (run tool: carry [".whl", ".debs"], timeout_s 490)
#
# What it proves: CUDA kernels run inside the grader's bubblewrap sandbox as an unprivileged uid
# (`--gpus 0`), and how Problem-1 notebooks pack on one GPU (`--per-gpu 4` against `--per-gpu 1`).
# It installs the carried wheels (.whl/) into the machine's python3, unpacks bubblewrap (.debs/)
# into a private folder, copies the repo to a world-readable folder and installs it editable there.
# Every step runs under `timeout`, a failed step is reported and the script goes on; the whole run
# stays under GPUCHECK_DEADLINE seconds (default 440). Summary: $OUT/gpu_check.txt.
#
# Rehearsal on a machine without a GPU (no installs, the repo and venv in place, CPU flags):
#     GPUCHECK_LOCAL=1 PY=.venv/bin/python OUT=/tmp/gc-out bash benchmarks/gpu_check.sh
set -u
START=$(date +%s)
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/gpucheck-out}
mkdir -p "$OUT"
LOCAL=${GPUCHECK_LOCAL:-0}
PY=${PY:-python3}
WORK=${GPUCHECK_WORK:-/opt/gpucheck}        # world-readable: the sandbox's uid reads the repo copy and bwrap here
DEADLINE=${GPUCHECK_DEADLINE:-440}
N_SAMPLES=${P1_N:-4}
SANDBOX_FLAG=  # --no-sandbox where the sandbox cannot start (section 4)
ONLY=${GPUCHECK_ONLY:-}  # "final": only the install and section 5a (the second exam), for a short rerun
SUMMARY=$OUT/gpu_check.txt
: >"$SUMMARY"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
TEE_PID=$!
export PYTHONUNBUFFERED=1 LC_ALL=C.UTF-8 LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1
export GRADER_CACHE=/tmp/gpucheck-cache
SAMPLERS=()
trap 'for p in "${SAMPLERS[@]}"; do kill "$p" 2>/dev/null; done' EXIT

elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( DEADLINE - $(elapsed) )); }
section() { echo; echo "==================== $* (t+$(elapsed)s) ===================="; echo "## $*" >>"$SUMMARY"; }
note() { echo "$*" | tee -a "$SUMMARY"; }
# step NAME LIMIT_S CMD...: runs CMD (an external command) under timeout, clipped to the time left.
# Sets STEP_S (seconds it took) and returns CMD's status (124: timed out, 125: skipped).
step() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  STEP_S=0
  if [ "$l" -lt 20 ]; then note "SKIP $name: ${l}s left of the ${DEADLINE}s deadline"; return 125; fi
  [ "$limit" -gt $((l - 10)) ] && limit=$((l - 10))
  echo "--- $name (limit ${limit}s)"
  local t0; t0=$(date +%s%N)
  timeout -k 5 "$limit" "$@"
  local rc=$?
  STEP_S=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}')
  if [ $rc -eq 0 ]; then note "OK   $name (${STEP_S}s)"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then note "FAIL $name: timed out after ${limit}s"
  else note "FAIL $name: exit status $rc (${STEP_S}s)"; fi
  return $rc
}
start_sampler() {  # start_sampler FILE: GPU memory and utilisation every 0.5 s, until stop_sampler
  SAMPLER_PID=
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader,nounits -lms 500 >"$1" 2>/dev/null &
  SAMPLER_PID=$!
  SAMPLERS+=("$SAMPLER_PID")
}
stop_sampler() {  # stop_sampler FILE: prints "peak MiB / max util %"
  [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
  SAMPLER_PID=
  [ -s "$1" ] || { echo "n/a"; return; }
  awk -F', *' '{if ($2+0 > m) m = $2+0; if ($3+0 > u) u = $3+0} END {printf "peak %d MiB, max util %d%%", m, u}' "$1"
}

# The sandbox's processes as the host sees them: their uids (200000 and up) and whether they hold a GPU device open.
start_uid_sampler() {
  : >"$1"
  ( while :; do
      grep -H '^Uid:' /proc/[0-9]*/status 2>/dev/null | awk '$2 >= 200000 {sub("/status:Uid:", "", $1); print $1, $2}' |
      while read -r p u; do
        if ls -l "$p/fd" 2>/dev/null | grep -q '/dev/nvidia'; then echo "$u:gpu"; else echo "$u:-"; fi
      done
      sleep 1
    done ) >>"$1" 2>/dev/null &
  UID_SAMPLER_PID=$!
  SAMPLERS+=("$UID_SAMPLER_PID")
}
stop_uid_sampler() { [ -n "${UID_SAMPLER_PID:-}" ] && kill "$UID_SAMPLER_PID" 2>/dev/null; UID_SAMPLER_PID=; }
uids_seen() { local s; s=$(sort -u "$1" 2>/dev/null | grep -v '^:' | tr '\n' ' '); echo "${s:-none seen}"; }

if [ "$LOCAL" = 1 ]; then
  EXPECT_GPU=0; SRC=$REPO; GPU_ARG=none
else
  EXPECT_GPU=1; SRC=$WORK/src; GPU_ARG=0
fi
note "gpu_check: repo $REPO, work $WORK, src $SRC, python $PY, local=$LOCAL, deadline ${DEADLINE}s, $(date -u +%FT%TZ)"

# ---------------------------------------------------------------------------------------------------------------
section "1. environment"
timeout 20 nvidia-smi -L || note "WARN nvidia-smi -L failed"
timeout 20 nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv
uname -r; grep PRETTY_NAME /etc/os-release; nproc; free -g | head -2
timeout 60 "$PY" - <<'EOF'
import os, sys
print("python", sys.version.split()[0], "executable", sys.executable, "->", os.path.realpath(sys.executable))
print("prefix", sys.prefix, "base_prefix", sys.base_prefix)
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        print("device", p.name, p.total_memory // 2**20, "MiB,", p.multi_processor_count, "SMs")
except Exception as err:
    print("torch import failed:", err)
EOF
echo "--- cgroups"; cat /proc/self/cgroup; mount | grep cgroup || echo "(no cgroup mount)"
for f in /sys/fs/cgroup/cgroup.controllers /sys/fs/cgroup/cgroup.subtree_control; do [ -f $f ] && echo "$f: $(cat $f)"; done
echo "--- the interpreter and the repo as other users see them"
ls -ld /opt/torch/.venv 2>&1
PYABS=$(command -v "$PY"); PYABS=$(cd "$(dirname "$PYABS")" && pwd)/$(basename "$PYABS")
namei -m "$(readlink -f "$PYABS")" 2>&1 | tail -n +2; namei -m "$REPO" 2>&1 | tail -n +2
echo "--- user namespaces, tools, devices, the CUDA driver library"
for k in user.max_user_namespaces kernel.unprivileged_userns_clone kernel.apparmor_restrict_unprivileged_userns; do
  echo "$k = $(cat /proc/sys/${k//.//} 2>/dev/null || echo absent)"; done
for t in bwrap setpriv prlimit dpkg-deb namei; do echo "$t: $(command -v $t || echo MISSING)"; done
ls -l /dev/nvidia* 2>&1
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libnvidia-ml\.so' || echo "libcuda not in the ld.so cache"
"$PY" -m pip --version; "$PY" -m pip list 2>/dev/null | grep -iE '^(setuptools|wheel|typing.extensions|typer|rich|click|anyio|psutil|pygments|idna|h11|pillow|torch|torchvision) '

# ---------------------------------------------------------------------------------------------------------------
section "2. install: wheels, the grader, bubblewrap"
if [ "$LOCAL" = 1 ]; then
  note "local: nothing installed; wheel tags checked for CPython 3.12 manylinux x86_64 only"
  step "wheel set installs for cp312 (dry run)" 120 "$PY" -m pip install -q --dry-run --no-index --no-deps \
    --ignore-installed --target /tmp/gpucheck-dry --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 "$REPO"/.whl/*.whl
else
  step "pip install $(ls "$REPO"/.whl/*.whl | wc -l) wheels" 150 \
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "$REPO"/.whl/*.whl
  # Wheels of packages the image has, installed only where its version is older than they need.
  for w in "$REPO"/.whl/hedge/*.whl; do
    [ -f "$w" ] || continue
    b=$(basename "$w"); name=${b%%-*}; rest=${b#*-}; ver=${rest%%-*}
    if "$PY" -c "import importlib.metadata as m, sys; from packaging.version import Version as V
try: have = m.version('$name')
except m.PackageNotFoundError: have = '0'
print('$name: have', have, 'carried $ver'); sys.exit(0 if V(have) < V('$ver') else 1)"; then
      step "hedge: $name $ver over an older one" 60 "$PY" -m pip install -q --no-index --no-deps --no-cache-dir "$w"
    fi
  done
  echo "--- the repo, copied where the sandbox's uid can read it: $SRC"
  rm -rf "$SRC"; mkdir -p "$SRC"
  tar -C "$REPO" --exclude=./.whl --exclude=./.debs --exclude=./.git --exclude=./.venv --exclude=./benchmarks/.venv-nbgrader --exclude=./reports \
      --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$SRC" -xf -
  mkdir -p "$SRC/reports"; chmod 755 "$WORK"; chmod -R a+rX "$WORK"
  if step "editable install of the grader (offline, no build isolation)" 120 \
      bash -c "cd '$SRC' && '$PY' -m pip install -q --no-index --no-deps --no-build-isolation -e ."; then
    EDITABLE=ok
  else
    EDITABLE=failed
    site=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    echo "$SRC" >"$site/gpucheck-grader.pth"
    note "FALLBACK the grader is importable through $site/gpucheck-grader.pth -> $SRC"
  fi
  chmod -R a+rX "$WORK"
fi
found=$(cd / && "$PY" -c "import grader, os; print(os.path.dirname(grader.__file__))" 2>&1)
if [ "$found" = "$SRC/grader" ]; then note "OK   import grader from / finds $found"
else note "FAIL import grader from / finds: $found (expected $SRC/grader)"; fi
if [ "$LOCAL" != 1 ]; then
  echo "--- pip check (informational; spacy and uvicorn's extras are left out on purpose)"
  timeout 60 "$PY" -m pip check 2>&1 | grep -viE 'spacy|uvicorn|httptools|websockets|dotenv' | head -30
fi

echo "--- bubblewrap from .debs, unpacked into $WORK/bwrap (never into /)"
rm -rf "$WORK/bwrap"; mkdir -p "$WORK/bwrap" "$WORK/bin"
unpack_deb() {  # unpack_deb DEB DIR: dpkg-deb, or Python's ar + tarfile where dpkg-deb is missing
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
  "$PY" - "$1" "$2" <<'EOF'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read(); pos = 8
while pos < len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
    body = data[pos + 60:pos + 60 + size]; pos += 60 + size + size % 2
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2], filter="tar" if hasattr(tarfile, "data_filter") else None)
EOF
}
BWRAP_OK=0
if unpack_deb "$REPO"/.debs/bubblewrap_*.deb "$WORK/bwrap" && [ -x "$WORK/bwrap/usr/bin/bwrap" ]; then
  if ldd "$WORK/bwrap/usr/bin/bwrap" | grep -q "not found"; then
    ldd "$WORK/bwrap/usr/bin/bwrap"
    unpack_deb "$REPO"/.debs/libcap2_*.deb "$WORK/bwrap"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$WORK/bwrap/usr/lib/x86_64-linux-gnu:$WORK/bwrap/lib/x86_64-linux-gnu" \
      "$WORK/bwrap/usr/bin/bwrap" >"$WORK/bin/bwrap"
    note "FALLBACK bwrap misses a library (above): wrapped with the carried libcap2"
  else
    ln -sf "$WORK/bwrap/usr/bin/bwrap" "$WORK/bin/bwrap"
  fi
  chmod -R a+rX "$WORK"; chmod 755 "$WORK/bin/bwrap"
  export PATH=$WORK/bin:$PATH
  BWRAP_OK=1
  note "OK   bwrap $(bwrap --version 2>&1) at $(command -v bwrap)"
else
  note "FAIL bubblewrap could not be unpacked (system bwrap: $(command -v bwrap || echo none))"
fi

echo "--- import time: grader.cli, nbclient, ipykernel, fastai.vision.all (first: compiles bytecode; second: warm)"
for round in $([ -z "$ONLY" ] && echo first second); do
  step "import grader.cli, nbclient, ipykernel, fastai.vision.all ($round)" 120 \
    bash -c "cd '$SRC' && '$PY' -c 'import grader.cli, nbclient, ipykernel, ipykernel.kernelapp, fastai.vision.all'"
done

echo "--- as another uid (65534), with a kernel's clean environment: the interpreter, its packages, CUDA"
as_other() {  # what a sandboxed kernel needs of the host, short of the sandbox itself
  (cd / && setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs -- env -i PATH=/usr/bin:/bin HOME=/tmp \
     LANG=C.UTF-8 "$PYABS" -c "import torch, ipykernel, nbformat, fastai.vision.all, grader.probe
print('imports ok; cuda', torch.cuda.is_available())")
}
other=$(timeout 120 bash -c "$(declare -f as_other); PYABS='$PYABS'; as_other" 2>&1 | tail -3)
echo "$other"
if ! echo "$other" | grep -q "imports ok"; then
  note "WARN uid 65534 cannot import the kernel's packages: $other"
  if echo "$other" | grep -qiE "permission denied|PermissionError|cannot open|can't open"; then
    for p in "$("$PY" -c 'import sys; print(sys.prefix)')" "$("$PY" -c 'import sys; print(sys.base_prefix)')" \
             "$(dirname "$(readlink -f "$PYABS")")"; do
      d=$p; while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
      case $p in /usr|/usr/*) ;; *) timeout 60 chmod -R o+rX "$p" ;; esac
    done
    other=$(timeout 120 bash -c "$(declare -f as_other); PYABS='$PYABS'; as_other" 2>&1 | tail -3)
    note "PATCHED made the interpreter's folders readable by others; now: $other"
  fi
fi
if [ "$EXPECT_GPU" = 1 ] && echo "$other" | grep -q "cuda False"; then
  note "WARN CUDA is not available to another uid with a clean environment (the kernel's)"
  libdir=$("$PY" -c "import torch; torch.cuda.init(); print([l.split()[-1] for l in open('/proc/self/maps') if 'libcuda.so' in l][0])" 2>/dev/null)
  libdir=$(dirname "${libdir:-/nonexistent/x}")
  if [ -d "$libdir" ] && ! ldconfig -p | grep -q "libcuda.so.1 "; then
    echo "$libdir" >/etc/ld.so.conf.d/zz-gpucheck-nvidia.conf && ldconfig
    note "PATCHED libcuda is found only through LD_LIBRARY_PATH ($libdir); added to the ld.so cache"
  fi
  ls -l /dev/nvidia*
  other=$(timeout 120 bash -c "$(declare -f as_other); PYABS='$PYABS'; as_other" 2>&1 | tail -3)
  note "     now: $other"
fi
echo "--- user namespaces for an unprivileged uid (what the sandbox's bwrap needs)"
userns_test() {
  (cd / && timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs -- bwrap --unshare-all \
     --unshare-user --disable-userns --die-with-parent --ro-bind / / --proc /proc --dev /dev -- /bin/sh -c 'echo "inside: uid $(id -u), uid_map $(cat /proc/self/uid_map)"') 2>&1
}
if [ "$BWRAP_OK" = 1 ]; then
  said=$(userns_test); echo "$said"
  if echo "$said" | grep -q "inside: uid"; then note "OK   bwrap makes user namespaces as uid 65534"
  else
    note "FAIL bwrap as uid 65534: $said"
    for kv in user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1 kernel.apparmor_restrict_unprivileged_userns=0; do
      [ -e "/proc/sys/$(echo "${kv%%=*}" | tr . /)" ] && sysctl -w "$kv"; done
    said=$(userns_test); note "     after sysctls: $said"
  fi
fi
echo "--- cgroups for the kernels' memory and process limits"
if ! grep -qE ' - cgroup2? ' /proc/self/mountinfo; then
  mkdir -p /run/gpucheck-cgroup2 && mount -t cgroup2 cgroup2 /run/gpucheck-cgroup2 \
    && note "PATCHED no cgroup filesystem was mounted: mounted cgroup2 at /run/gpucheck-cgroup2"
fi
step "Cgroups.detect()" 30 bash -c "cd '$SRC' && '$PY' -c 'from grader.run.cgroups import Cgroups; print(Cgroups.detect())'"

if [ -z "$ONLY" ]; then  # assets and the self-test
# ---------------------------------------------------------------------------------------------------------------
section "3. offline assets (grader assets synth)"
step "grader assets synth" 120 bash -c "cd '$SRC' && '$PY' -m grader assets synth"
ls -la "$GRADER_CACHE/assets" 2>&1 | head

# ---------------------------------------------------------------------------------------------------------------
section "4. sandbox self-test: a CUDA notebook in the bubblewrap sandbox, as an unprivileged uid"
cat >"$WORK/selftest.py" <<'EOF'
"""Run a tiny notebook through the grader's own runner, sandboxed or bare, on GPU `gpu`; print its outputs."""
import json, os, sys, tempfile, time
from pathlib import Path
import nbformat
from grader.run import NotebookRunner
from grader.run.sandbox import Limits, SandboxHost, SandboxUnavailable

mode, gpu_arg, src, report = sys.argv[1:5]
gpu = None if gpu_arg == "none" else int(gpu_arg)
device = "cpu" if gpu is None else "cuda"
cache = Path(os.environ["GRADER_CACHE"])
cells = [
    "import os, socket, torch\n"
    "print('uid', os.getuid(), 'hostname', socket.gethostname(), 'uid_map', ' '.join(open('/proc/self/uid_map').read().split()))\n"
    f"print('sees the rubrics:', os.path.exists({src!r} + '/rubrics'), '; /root readable:', os.access('/root', os.R_OK))\n"
    "print('cuda available', torch.cuda.is_available(), 'devices', torch.cuda.device_count(), "
    "'CUDA_VISIBLE_DEVICES', os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
    # 2: the grader's seccomp filter is on (grader/run/seccomp.py); CUDA must work under it
    "print('seccomp mode', [line.split()[1] for line in open('/proc/self/status') if line.startswith('Seccomp:')][0])",
    f"x = torch.randn(4096, 4096, device={device!r})\n"
    "y = x @ x\n"
    "print('matmul sum', (x @ x).sum().item())\n"
    "if torch.cuda.is_available(): print('device', torch.cuda.get_device_name(0), '; allocated MiB', torch.cuda.max_memory_allocated() // 2**20)\n"
    "fraction = getattr(torch.cuda.memory, 'get_per_process_memory_fraction', None)\n"
    "print('PYTORCH_CUDA_ALLOC_CONF', os.environ.get('PYTORCH_CUDA_ALLOC_CONF'), '; memory fraction', "
    "fraction(0) if fraction and torch.cuda.is_available() else 'n/a')",
    f"import time\nreps = {50 if gpu is not None else 2}\nt = time.perf_counter()\nfor _ in range(reps): y = x @ x\n"
    "if torch.cuda.is_available(): torch.cuda.synchronize()\n"
    "s = time.perf_counter() - t\n"
    "print('fp32 4096^3 matmuls: %d in %.3f s, %.1f TFLOP/s' % (reps, s, reps * 2 * 4096**3 / s / 1e12))",
]
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
result = {"mode": mode, "gpu": gpu}
t0 = time.monotonic()
try:
    host = None
    if mode == "sandbox":
        host = SandboxHost.prepare(sys.executable, Limits(memory_mb=8192, processes=512), cache,
                                   gpus=() if gpu is None else (gpu,))
        result["prepare_s"] = round(time.monotonic() - t0, 1)
    # As `grader grade --gpus 0 --per-gpu 4` sets it: each kernel's torch may allocate 0.95/4 of the GPU.
    runner = NotebookRunner(cell_timeout_s=120, notebook_timeout_s=240, cache_dir=cache, sandbox=host,
                            gpu_memory_fraction=None if gpu is None else round(0.95 / 4, 3))
    with tempfile.TemporaryDirectory(prefix="gpucheck-nb-") as folder:
        nbformat.write(nb, Path(folder) / "selftest.ipynb")
        execution = runner.run(nb, Path(folder), gpu=gpu)
    result["cells"] = [c.model_dump() for c in execution.cells]
    result["outputs"] = []
    for cell in execution.notebook.cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or f"{out.get('ename')}: {out.get('evalue')}"
            result["outputs"].append(text.strip())
    result["limits_hit"] = execution.limits_hit
    result["ok"] = all(c.status == "ok" for c in execution.cells)
except SandboxUnavailable as err:
    result.update(ok=False, error=f"SandboxUnavailable: {err}")
except Exception as err:
    import traceback; traceback.print_exc()
    result.update(ok=False, error=f"{type(err).__name__}: {err}")
result["seconds"] = round(time.monotonic() - t0, 1)
print("\n".join(result.get("outputs", [])))
print(json.dumps({k: v for k, v in result.items() if k != "outputs"}, indent=1))
Path(report).write_text(json.dumps(result, indent=1))
sys.exit(0 if result["ok"] else 1)
EOF
chmod a+r "$WORK/selftest.py"
selftest() {  # selftest MODE: sets SELFTEST (ok | failed), prints the notebook's outputs
  local mode=$1
  start_uid_sampler "$WORK/uids-selftest-$mode.txt"
  step "self-test notebook ($mode, gpu $GPU_ARG)" 150 bash -c "cd '$SRC' && '$PY' '$WORK/selftest.py' $mode $GPU_ARG '$SRC' '$OUT/selftest-$mode.json'"
  local rc=$?
  stop_uid_sampler
  note "     sandbox processes (host uid:has /dev/nvidia* open): $(uids_seen "$WORK/uids-selftest-$mode.txt")"
  if [ $rc -eq 0 ] && { [ "$EXPECT_GPU" = 0 ] || grep -q "cuda available True" "$OUT/selftest-$mode.json"; }; then
    SELFTEST=ok
    note "     $(grep -oE 'uid [0-9]+ hostname [a-z]+ uid_map [0-9 ]+' "$OUT/selftest-$mode.json" | head -1)"
    note "     $(grep -oE 'cuda available [A-Za-z]+ devices [0-9]+' "$OUT/selftest-$mode.json" | head -1); $(grep -oE 'sees the rubrics: [A-Za-z]+' "$OUT/selftest-$mode.json" | head -1)"
    note "     $(grep -oE 'seccomp mode [0-9]' "$OUT/selftest-$mode.json" | head -1) (2: the kernels' filter is on)"
    note "     $(grep -oE 'fp32 4096[^"]*' "$OUT/selftest-$mode.json" | head -1)"
    note "     $(grep -oE 'PYTORCH_CUDA_ALLOC_CONF[^"]*' "$OUT/selftest-$mode.json" | head -1)"
  else
    SELFTEST=failed
    note "     error: $(grep -oE '"(error|evalue)": "[^"]{0,600}' "$OUT/selftest-$mode.json" 2>/dev/null | head -2 | tr '\n' ' ')"
    grep -oE 'cuda available [A-Za-z]+' "$OUT/selftest-$mode.json" 2>/dev/null | head -1 | sed 's/^/     /' | tee -a "$SUMMARY"
  fi
}
selftest sandbox
SANDBOX_FLAG=
if [ "$SELFTEST" != ok ]; then
  note "the sandboxed self-test failed (above); again with --no-sandbox, to learn whether the GPU path works at all"
  selftest bare
  SANDBOX_FLAG=--no-sandbox
  note "step 5 grades with --no-sandbox"
fi

fi  # GPUCHECK_ONLY
# ---------------------------------------------------------------------------------------------------------------
section "5a. the second exam (dl2022-final, RNN/LSTM): rubric lint CPU vs GPU, its samples graded on the GPU"
if [ "$EXPECT_GPU" = 1 ]; then LINT_GPU=(--gpu 0); FINAL_FLAGS=(--gpus 0 --per-gpu 4); else LINT_GPU=(); FINAL_FLAGS=(--jobs 2); fi
step "grader rubric lint rubrics/dl2022-final --runs 2 ${LINT_GPU[*]}" 150 bash -c "set -o pipefail; cd '$SRC' && \
  '$PY' -m grader rubric lint rubrics/dl2022-final --runs 2 ${LINT_GPU[*]} $SANDBOX_FLAG 2>&1 | tee '$WORK/lint-final.log'"
grep -E '^(error|warning|  CPU)|reference runs took' "$WORK/lint-final.log" | cut -c1-260 | tee -a "$SUMMARY"
rm -rf "$WORK/out-final"
step "grader grade submissions/dl2022-final ${FINAL_FLAGS[*]}" 150 bash -c "set -o pipefail; cd '$SRC' && \
  '$PY' -m grader grade submissions/dl2022-final --rubric rubrics/dl2022-final --out '$WORK/out-final' -q \
  $SANDBOX_FLAG ${FINAL_FLAGS[*]} 2>&1 | tail -5"
timeout 30 "$PY" - "$WORK/out-final/results.json" <<'EOF' | tee -a "$SUMMARY"
import json, sys
try:
    results = json.load(open(sys.argv[1]))["submissions"]
except (OSError, ValueError) as err:
    sys.exit(f"no results: {err}")
for r in sorted(results, key=lambda r: r["student_id"] or ""):
    print(f"  final {r['student_id']}: total {r['total']:g} items {[i['points'] for i in r['items']]} flags {r['flags']}")
EOF

if [ -z "$ONLY" ]; then  # the Problem 1 runs
# ---------------------------------------------------------------------------------------------------------------
section "5. Problem 1 samples on one GPU: --per-gpu 4 against --per-gpu 1"
SAMPLES=$WORK/p1; rm -rf "$SAMPLES" "$WORK/warmup"; mkdir -p "$SAMPLES" "$WORK/warmup"
# Four of the six Problem 1 samples that hold images: the course's CAM, cnn_learner, explicit .cuda(), Grad-CAM.
picked=0
for want in 한예린 서준호 장하윤 권도현 송지아 황민재; do
  for d in "$SRC"/submissions/dl2022-midterm/"$want"*/; do
    [ -d "$d/images" ] && [ $picked -lt "$N_SAMPLES" ] && cp -r "$d" "$SAMPLES/" && picked=$((picked + 1))
  done
done
note "samples ($picked): $(ls "$SAMPLES" | tr '\n' ' ')"
cp "$SRC"/submissions/dl2022-midterm/김민준*.ipynb "$WORK/warmup/"
if [ "$EXPECT_GPU" = 1 ]; then
  FLAGS_WARM=(--gpus 0); FLAGS_PACKED=(--gpus 0 --per-gpu 4); FLAGS_SINGLE=(--gpus 0 --per-gpu 1)
else
  FLAGS_WARM=(--jobs 1 --cpu-fallback); FLAGS_PACKED=(--jobs 2 --cpu-fallback); FLAGS_SINGLE=(--jobs 1 --cpu-fallback)
fi
grade() {  # grade LABEL DIR LIMIT FLAGS...: one `grader grade` run into $WORK/out-LABEL; sets WALL_<LABEL>
  local label=$1 dir=$2 limit=$3; shift 3
  rm -rf "$WORK/out-$label"
  local csv=$OUT/gpumem-$label.csv
  [ "$label" = warmup ] && csv=$WORK/gpumem-warmup.csv  # at most 8 files come back
  start_sampler "$csv"; start_uid_sampler "$WORK/uids-$label.txt"
  step "grader grade $label: $SANDBOX_FLAG $*" "$limit" bash -c "set -o pipefail; cd '$SRC' && '$PY' -m grader grade '$dir' \
    --rubric rubrics/dl2022-midterm --out '$WORK/out-$label' -q $SANDBOX_FLAG $* 2>&1 | tee '$WORK/grade-$label.log'"
  local rc=$?
  local mem; mem=$(stop_sampler "$csv"); stop_uid_sampler
  note "     $label: wall ${STEP_S}s, GPU $mem"
  eval "WALL_$label=$STEP_S; GPU_$label='$mem'; RC_$label=$rc"
  note "     $label: sandbox processes (host uid:has /dev/nvidia* open) $(uids_seen "$WORK/uids-$label.txt")"
  [ "$label" != warmup ] && [ -f "$WORK/out-$label/results.json" ] && cp "$WORK/out-$label/results.json" "$OUT/results-$label.json"
  return $rc
}
# The reference solution runs once (on the CPU, like every reference) and is cached for the two runs below.
grade warmup "$WORK/warmup" 200 "${FLAGS_WARM[@]}"
note "     (warm-up: warm kernel server + the reference solution + one short notebook)"
COLD=()
if [ "$RC_warmup" != 0 ] && grep -q -- "--cold" "$WORK/grade-warmup.log" 2>/dev/null; then
  # The warm kernel server (a fork server with the exam's imports) failed or initialised CUDA.
  note "     grader said: $(grep -m1 -E 'error|Error' "$WORK/grade-warmup.log" | cut -c1-400)"
  note "RETRY warm-up with --cold (the warm kernel server is unusable here; the runs below use --cold too)"
  COLD=(--cold)
  grade warmup "$WORK/warmup" 200 "${FLAGS_WARM[@]}" --cold
fi
if [ "$RC_warmup" != 0 ] && [ "$(left)" -gt 200 ]; then
  # A reference that fails here fails the two runs below too. The likeliest cause on a 16-core machine is the
  # rubric's 8 GB memory limit (fastai's DataLoader workers); the reference is cached whatever --memory was.
  note "     grader said: $(grep -m1 -E 'error|Error' "$WORK/grade-warmup.log" | cut -c1-400)"
  note "RETRY warm-up with --memory 32768 (the reference failed above)"
  grade warmup "$WORK/warmup" 200 "${FLAGS_WARM[@]}" "${COLD[@]}" --memory 32768
fi
if [ "$RC_warmup" = 0 ]; then
  grade packed "$SAMPLES" 160 "${FLAGS_PACKED[@]}" "${COLD[@]}"
  grade single "$SAMPLES" 220 "${FLAGS_SINGLE[@]}" "${COLD[@]}"
else
  note "SKIP the --per-gpu 4 and --per-gpu 1 runs: no reference solution (the warm-up failed)"
fi

fi  # GPUCHECK_ONLY
# ---------------------------------------------------------------------------------------------------------------
section "6. summary"
timeout 60 "$PY" - "$WORK" <<'EOF' | tee -a "$SUMMARY"
import json, sqlite3, sys
from pathlib import Path
work = Path(sys.argv[1])
runs = {}
for label in ("warmup", "packed", "single"):
    out = work / f"out-{label}"
    try:
        results = {s["student"]: s for s in json.loads((out / "results.json").read_text())["submissions"]}
    except (OSError, ValueError, KeyError) as err:
        print(f"{label}: no results.json ({type(err).__name__})"); continue
    try:
        with sqlite3.connect(out / "gradebook.sqlite") as db:
            seconds = dict(db.execute("SELECT student, seconds FROM submissions"))
    except sqlite3.Error:
        seconds = {}
    runs[label] = (results, seconds)
titles = {"warmup": "warm-up", "packed": "--per-gpu 4", "single": "--per-gpu 1"}
fallback, errors = [], []
for label, (results, seconds) in runs.items():
    print(f"{titles[label]}: {len(results)} submission(s), per-notebook seconds (kernel start to checks done) "
          f"sum {sum(seconds.values()):.1f}")
    for student, r in sorted(results.items()):
        print(f"  {r.get('name')} ({student}): total {r['total']}/{r['max']} {r['status']} flags {r['flags']} "
              f"sandboxed {r.get('sandboxed')} {seconds.get(student, 0):.1f} s")
        if "cpu-fallback" in r["flags"]:
            fallback.append(f"{student} ({titles[label]})")
        if r.get("error"):
            errors.append(f"{student} ({titles[label]}): {r['error']}")
if {"packed", "single"} <= set(runs):
    (rp, sp), (rs, ss) = runs["packed"], runs["single"]
    print(f"  {'submission':<12} {'total 4/GPU':>11} {'total 1/GPU':>11} {'s 4/GPU':>8} {'s 1/GPU':>8}")
    for student in sorted(set(rp) | set(rs)):
        a, b = rp.get(student, {}), rs.get(student, {})
        print(f"  {student:<12} {a.get('total', '-'):>11} {b.get('total', '-'):>11} "
              f"{sp.get(student, 0):>8.1f} {ss.get(student, 0):>8.1f}")
    same = set(rp) == set(rs) and all(rp[k]["total"] == rs[k]["total"] for k in rp)
    print(f"{'OK  ' if same else 'DIFF'} totals equal between --per-gpu 4 and --per-gpu 1: {same}")
print(("FAIL cpu-fallback flagged: " + ", ".join(fallback)) if fallback else "OK   no cpu-fallback flag")
for e in errors:
    print("ERROR", e)
EOF
note "wall s: warm-up (reference) ${WALL_warmup:-n/a}, --per-gpu 4 ${WALL_packed:-n/a}, --per-gpu 1 ${WALL_single:-n/a}"
note "GPU: --per-gpu 4 ${GPU_packed:-n/a}; --per-gpu 1 ${GPU_single:-n/a}"
[ "${RC_packed:-1}" = 0 ] && [ "${RC_single:-1}" = 0 ] && note "speed-up of --per-gpu 4 over --per-gpu 1: $(awk -v a="$WALL_single" -v b="$WALL_packed" 'BEGIN{ if (b > 0) printf "%.2fx", a/b; else print "n/a" }')"
echo "--- warm kernel server log (last lines)"; tail -5 "$GRADER_CACHE/warm-kernels.log" 2>/dev/null
note "done in $(elapsed)s; files: $(ls "$OUT" | tr '\n' ' ')"
echo; echo "==================== gpu_check.txt ===================="; cat "$SUMMARY"
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
