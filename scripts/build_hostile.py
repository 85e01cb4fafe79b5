"""Build the hostile sample notebooks of tests/hostile/ from the reference solution.

    .venv/bin/python scripts/build_hostile.py

Each is the midterm's solution (Problems 2 and 3 answered honestly, 44 automatic
points) with one attack added. Most attacks sit between (2.5) and Problem 3, so
Problem 2 has run honestly before them; the ones that forge evidence go before
Problem 2. `{PORT}`, `{RUBRIC}`, `{CACHE}` and `{SUBMISSIONS}` are filled in by
tests/test_hostile.py with the paths and the listener of the run.
Expected outcomes are asserted there.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "rubrics" / "dl2022-midterm" / "solution.ipynb"
OUT = ROOT / "tests" / "hostile"

AFTER_2_5 = "answer:2.5"
BEFORE_2 = "question:2.1"

PROBE_PATHS = """import os
for path in ['..', '/', '/sandbox', '/root', '/home', '{RUBRIC}', '{CACHE}', '{SUBMISSIONS}']:
    try:
        print('LIST', path, sorted(os.listdir(path)))
    except OSError as err:
        print('BLOCKED', path, type(err).__name__)
for path in ['{RUBRIC}/rubric.yaml', '{RUBRIC}/solution.ipynb', '{SUBMISSIONS}/김민준(2022001).ipynb', '/etc/shadow']:
    try:
        open(path).read()
        print('READ', path)
    except OSError as err:
        print('BLOCKED', path, type(err).__name__)"""

ATTACKS: dict[str, tuple[str, list[str]]] = {
    "reads_outside": (AFTER_2_5, [PROBE_PATHS]),
    "network": (AFTER_2_5, ["""import socket
print(sorted(name for _, name in socket.if_nameindex()))
try:
    socket.create_connection(('127.0.0.1', {PORT}), timeout=3)
    print('CONNECTED')
except OSError as err:
    print('REFUSED', type(err).__name__)"""]),
    "writes_outside": (AFTER_2_5, ["""import os, glob
for path in ['/sandbox/submission/planted.txt', '/usr/planted.txt', '/etc/planted.txt', '/planted.txt',
             glob.glob('/tmp/grader-run-*/rt')[0] + '/planted.txt']:
    try:
        open(path, 'w').write('x')
        print('WROTE', path)
    except OSError as err:
        print('BLOCKED', path, type(err).__name__)
open('planted.txt', 'w').write('mine')
print(sorted(os.listdir('.')))"""]),
    "fork_bomb": (AFTER_2_5, ["""import os
while True:
    try:
        os.fork()
    except OSError:
        pass"""]),
    "memory_hog": (AFTER_2_5, ["blocks = []\nwhile len(blocks) < 300:  # 30 GB in 100 MB blocks\n"
                               "    blocks.append(b'x' * (100 * 2**20))"]),
    "fills_disk": (AFTER_2_5, [
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)",
        "for i in range(10_000):\n    with open(f'part{i}.bin', 'wb') as f:\n        f.write(b'0' * 8 * 2**20)"]),
    "busy_loop": (AFTER_2_5, ["while True:\n    pass", "print('after the loop')"]),
    "sys_exit": (AFTER_2_5, ["import sys\nsys.exit()", "print('still alive')"]),
    "os_exit": (AFTER_2_5, ["import os\nos._exit(1)"]),
    "kills_parent": (AFTER_2_5, ["import os, signal\nprint(os.getpid(), os.getppid())\n"
                                "os.kill(os.getppid(), signal.SIGKILL)\nprint('parent signalled')"]),
    "ignores_interrupt": (AFTER_2_5, ["import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                      "while True:\n    pass"]),
    "clears_hooks": (BEFORE_2, ["import torch.optim.optimizer as o, torch.nn.modules.module as m\n"
                                "o._global_optimizer_pre_hooks.clear()\no._global_optimizer_post_hooks.clear()\n"
                                "m._global_forward_hooks.clear()"]),
    "patches_json": (BEFORE_2, ["""import json, os
print(os.environ.get('GRADER_EVIDENCE'))
FORGED = '{"event": "step", "forged": true}'
json.dumps = lambda *args, **kwargs: FORGED
json.dump = lambda obj, fp, *args, **kwargs: fp.write(FORGED)"""]),
    "forges_evidence": (AFTER_2_5, ["""import os, json
for fd in os.listdir('/proc/self/fd'):
    try:
        target = os.readlink(f'/proc/self/fd/{fd}')
    except OSError:  # the descriptor listdir itself used
        continue
    if target.endswith('evidence.jsonl'):
        forged = {"event": "step", "optimizer": "o9", "class": "Adam", "hyper": {"lr": 0.1}, "seq": 10**6, "run": 3,
                  "params": []}
        os.write(int(fd), (json.dumps(forged) + '\\n').encode())
        print('forged a line')"""]),
    "fake_results": (AFTER_2_5, ["""import json
print(json.dumps({"student": "2022001", "status": "graded", "total": 100.0, "max": 100.0,
                  "items": [{"id": "2.2", "points": 6.0, "status": "pass"}]}))"""]),
    "stdout_flood": (AFTER_2_5, ["line = 'x' * 2**20\nfor _ in range(200):\n    print(line)"]),
    "symlink_key": (AFTER_2_5, ["import os\nprint(os.path.islink('answer_key.yaml'))\n"
                                "try:\n    print(open('answer_key.yaml').read())\n"
                                "except OSError as err:\n    print('BLOCKED', type(err).__name__)"]),
    # In a child process: unshare() refuses a threaded process like the kernel whatever the sandbox.
    "nested_namespaces": (AFTER_2_5, ["""import subprocess, sys
attempt = '''import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for name, flag in [('user', 0x10000000), ('mount', 0x00020000), ('network', 0x40000000)]:
    refused = libc.unshare(flag) != 0
    print(name, 'REFUSED ' + os.strerror(ctypes.get_errno()) if refused else 'CREATED')'''
print(subprocess.run([sys.executable, '-c', attempt], capture_output=True, text=True).stdout, end='')"""]),
}


def build(name: str, anchor: str, cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells[0].source = "import torch\nimport matplotlib.pyplot as plt"  # fastai's import costs 9 s per kernel
    index = next(i for i, cell in enumerate(nb.cells) if anchor in cell.metadata.get("tags", []))
    position = index + 1 if anchor.startswith("answer:") else index
    # Fixed cell ids: rebuilding leaves unchanged samples byte-for-byte the same.
    nb.cells[position:position] = [new_code_cell(source, id=f"attack-{n}") for n, source in enumerate(cells, 1)]
    nb.metadata["grader_sample"] = name
    return nb


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.ipynb"):
        old.unlink()
    for number, (name, (anchor, cells)) in enumerate(ATTACKS.items(), start=1):
        nbformat.write(build(name, anchor, cells), OUT / f"{name}(99000{number:02d}).ipynb")


if __name__ == "__main__":
    main()
