"""Rubrics: pydantic models of the YAML, loading with located errors, content hash."""

from grader.rubric.load import LoadedRubric, RubricError, load_rubric
from grader.rubric.models import Item, Rubric, Tolerance

__all__ = ["Item", "LoadedRubric", "Rubric", "RubricError", "Tolerance", "load_rubric"]
