"""Files other tools read: results.json (the contract) and gradebook exports."""

from grader.export.csv_export import write_csv
from grader.export.results_json import results_document, write_results_json

EXPORTERS = {"csv": write_csv}

__all__ = ["EXPORTERS", "results_document", "write_csv", "write_results_json"]
