"""Evidence on the grader's side: strict reading of the probe's file, and the
views checks need (optimizer phases, which module was trained, predictions)."""

from grader.evidence.model import Evidence, EvidenceError, ModuleInfo, StepEvent, TensorData
from grader.evidence.read import read_evidence

__all__ = ["Evidence", "EvidenceError", "ModuleInfo", "StepEvent", "TensorData", "read_evidence"]
