"""A real single-node Slurm for the tests (../shared/slurm-ci.md): Debian's Slurm 22.05 with munge, configured
in a private folder (SLURM_CONF), two fake GPUs, started in order and stopped by pid. Its ports and its munged are
its own, so another test run's cluster on the machine neither stops it nor is stopped by it."""

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
    munge: Path  # its munged's socket, pid file, log and seed (munged refuses a folder under pytest's private ones)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def pids(self) -> list[int]:
        """Its daemons, in the order they stop: slurmd, slurmctld, munged."""
        paths = (self.folder / "slurmd.pid", self.folder / "slurmctld.pid", self.munge / "munged.pid")
        return [int(path.read_text().strip()) for path in paths if path.is_file()]

    def stop(self) -> None:
        stopping = self.pids()
        for pid in stopping:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while stopping and Path(f"/proc/{stopping[-1]}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # munged writes its seed file as it exits: its folder goes after it
        shutil.rmtree(self.munge, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def start_munged(folder: Path) -> None:
    """A munged of the cluster's own, with the machine's key."""
    folder.parent.mkdir(exist_ok=True)
    shutil.chown(folder.parent, "munge", "munge")
    folder.mkdir(mode=0o755)  # munged wants its socket's folder open to all, and its own
    shutil.chown(folder, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--socket={folder}/munge.socket",
                    f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
                    f"--seed-file={folder}/munged.seed"], check=True)


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
    munge = Path("/run/munge") / f"grader-tests-{os.getpid()}-{folder.name}"
    conf = folder / "slurm.conf"
    conf.write_text(f"""ClusterName=grader-tests
SlurmctldHost={host}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={munge}/munge.socket
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
    cluster = Cluster(folder, conf, munge)
    start_munged(munge)
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
