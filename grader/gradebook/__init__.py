"""The gradebook: SQLite storage of results, manual scores, overrides, regrades and decisions about similar pairs."""

from grader.gradebook.store import (PAIR_DECISIONS, Gradebook, GradebookError, GradingSources, PairReview, Regrade,
                                    RubricSummary, StaleEdit)

__all__ = ["PAIR_DECISIONS", "Gradebook", "GradebookError", "GradingSources", "PairReview", "Regrade",
           "RubricSummary", "StaleEdit"]
