"""grader: grade deep-learning exams written as Jupyter notebooks.

Kept import-free on purpose: the probe (``grader.probe``) is imported inside
students' kernels, and nothing else of the grader should come with it.
"""

__version__ = "0.1.0"
