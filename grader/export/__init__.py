"""Files other tools read: results.json (the contract), CSV, and what Canvas, Moodle and Gradescope import."""

from grader.export.csv_export import write_csv
from grader.export.results_json import results_document, write_results_json

__all__ = ["results_document", "write_csv", "write_results_json"]
