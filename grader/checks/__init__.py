"""Checks: small pure functions from evidence and a rubric check to a result.

A check never runs student code and never trusts the kernel's opinion of a
score: it compares what the probe recorded with the reference's record.
"""

from collections.abc import Callable

from grader.checks import (cam, dataloaders, fitted, image_folder, learner, manual, model_fit, module, multiple_choice,
                           optimizer_trace, parameter_count, printed, tensor, training, true_false, value)
from grader.checks.context import ItemContext, Trace
from grader.results import CheckResult

CHECKS: dict[str, Callable[..., CheckResult]] = {
    "module": module.check,
    "tensor": tensor.check,
    "optimizer_trace": optimizer_trace.check,
    "true_false": true_false.check,
    "manual": manual.check,
    "image_folder": image_folder.check,
    "dataloaders": dataloaders.check,
    "learner": learner.check,
    "cam": cam.check,
    "value": value.check,
    "parameter_count": parameter_count.check,
    "model_fit": model_fit.check,
    "printed": printed.check,
    "multiple_choice": multiple_choice.check,
    "training": training.check,
    "fitted_values": fitted.check,
    "reproduces": fitted.reproduces,
}

__all__ = ["CHECKS", "ItemContext", "Trace"]
