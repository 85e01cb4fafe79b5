"""A real single-node Slurm for the tests (../shared/slurm-ci.md): Debian's Slurm 22.05 with munge, configured
in a private folder (SLURM_CONF), two fake GPUs, started in order and stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path



@dataclass
class Cluster:
    folder: Path
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def pids(self) -> list[int]:
        found = []
        for name in ("slurmd.pid", "slurmctld.pid"):
            path = self.folder / name
            if path.is_file():
                found.append(int(path.read_text().strip()))
        return found

    def stop(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        munge_pid = Path("/run/munge/munged.pid")
        if munge_pid.is_file():
            try:
                os.kill(int(munge_pid.read_text().strip()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def start(folder: Path, gpus: int = 2) -> Cluster:
    missing = [tool for tool in ("sbatch", "squeue", "slurmctld", "slurmd", "munged") if shutil.which(tool) is None]
    assert not missing, f"{', '.join(missing)} missing: `make test-system` installs Slurm and munge"
    host = socket.gethostname().split(".")[0]
    memory = int(next(part.split("=")[1] for part in subprocess.run(["slurmd", "-C"], capture_output=True, text=True)
                      .stdout.split() if part.startswith("RealMemory=")))
    cpus = os.cpu_count()
    for name in ("state", "spool", "log", "fakegpu"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(gpus):
        link = folder / "fakegpu" / f"nvidia{index}"
        if not link.exists():
            link.symlink_to("/dev/null")
    conf = folder / "slurm.conf"
    conf.write_text(f"""ClusterName=grader-tests
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/log/slurmctld.log
SlurmdLogFile={folder}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={int(memory * 0.9)} Gres=gpu:{gpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    (folder / "gres.conf").write_text(f"AutoDetect=off\nNodeName={host} Name=gpu File={folder}/fakegpu/nvidia[0-{gpus - 1}]\n")
    cluster = Cluster(folder, conf)
    running = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True, text=True).stdout.split()
    assert not running, f"a slurmctld is running already (pid {', '.join(running)}): stop it first"
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not Path("/run/munge/munge.socket.2").exists():
        subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    subprocess.run(["/usr/sbin/slurmctld", "-f", str(conf)], check=True, env=cluster.env)
    subprocess.run(["/usr/sbin/slurmd", "-f", str(conf)], check=True, env=cluster.env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=cluster.env).stdout
        if state.strip() == "idle":
            return cluster
        time.sleep(0.2)
    cluster.stop()
    raise RuntimeError(f"slurm did not come up: sinfo says {state!r}; logs in {folder}/log")
