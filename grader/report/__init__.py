"""HTML reports: one per student for the TA, a class summary, and feedback a student may be handed."""

from grader.report.feedback import feedback_html, feedback_text, write_feedback
from grader.report.render import write_reports

__all__ = ["feedback_html", "feedback_text", "write_feedback", "write_reports"]
