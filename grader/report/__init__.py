"""HTML reports: one per student for the TA, and a class summary."""

from grader.report.render import write_reports

__all__ = ["write_reports"]
