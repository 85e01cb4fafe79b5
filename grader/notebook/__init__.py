"""Notebooks as submitted: reading them, finding the answers, parsing what students wrote and printed."""
