"""`grader`: grade folders of exam notebooks, re-render reports, export, set manual scores; students' self-check.

Each module holds the commands of one front end; they parse, call the library (grader.service for kernels, a
runner and a grader), and print. Nothing below this package imports it."""

from __future__ import annotations

import typer

from grader.cli import assets, author, grade, outputs, review, selfcheck, similarity, slurm_task
from grader.cli.gradescope import gradescope_app

app = typer.Typer(help="Grade deep-learning exams written as Jupyter notebooks.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
app.add_typer(author.rubric_app, name="rubric", help="Check a rubric against its template and reference solution.")
app.add_typer(assets.assets_app, name="assets", help="Pretrained weights and datasets for kernels without network: "
                                                     "fill the cache with stand-ins or real downloads, show its state.")
app.command()(grade.grade)
app.command()(outputs.report)
app.command()(outputs.export)
app.command()(outputs.feedback)
app.command("set")(outputs.set_score)
app.command("release")(selfcheck.release)
app.command("check")(selfcheck.check)
app.command("assign")(author.assign_command)
app.command("review")(review.review)
app.add_typer(similarity.similarity_app, name="similarity",
              help="Which submissions look copied: a ranked table, side-by-side pages, a CSV (staff only).")
app.command("slurm-task", hidden=True)(slurm_task.slurm_task)
app.add_typer(gradescope_app, name="gradescope", help="Grade inside Gradescope: build the autograder zip, turn a "
                                                      "graded submission into Gradescope's results.json.")

__all__ = ["app"]
