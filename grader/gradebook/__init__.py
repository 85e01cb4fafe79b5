"""The gradebook: SQLite storage of results, manual scores, overrides and regrades."""

from grader.gradebook.store import Gradebook, GradebookError, GradingSources, Regrade, RubricSummary, StaleEdit

__all__ = ["Gradebook", "GradebookError", "GradingSources", "Regrade", "RubricSummary", "StaleEdit"]
