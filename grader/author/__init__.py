"""Authoring exams: lint a rubric against its template and reference."""
