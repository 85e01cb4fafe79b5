"""The gradebook: SQLite storage of results and manual scores."""

from grader.gradebook.store import Gradebook, GradebookError, RubricSummary

__all__ = ["Gradebook", "GradebookError", "RubricSummary"]
