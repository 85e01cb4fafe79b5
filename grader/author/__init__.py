"""Authoring an exam: one master notebook with solutions into a rubric folder (`grader assign`)."""
