"""Authoring an exam: one master notebook with solutions into a rubric folder (`grader assign`), and
checking the rubric against its template and reference (`grader rubric lint`)."""
