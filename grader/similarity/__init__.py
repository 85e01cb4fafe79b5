"""Across the class: which submissions look copied, from their code and from what their outputs show.

A review aid: it ranks pairs and explains why; it never changes a score. `code` fingerprints the students' code,
`outputs` reads what stored and re-executed outputs hold, `pairs` scores and ranks the pairs, `gather` builds the
inputs from a graded folder, and `pages` writes the table, the side-by-side pages and the CSV.
"""
