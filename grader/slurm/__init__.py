"""Grading on a Slurm cluster: one array task per submission.

The coordinator (on the login node) writes a run folder on the shared filesystem: `plan.json` (what every task
reads), the reference run as plain data, and one `results/<key>.json` per task as tasks finish. A task grades its
submission through the same Grader as a local worker, sandbox included; the kernel cannot write the run folder.
"""
