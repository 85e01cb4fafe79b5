"""What a training step was fitted to, whatever the notebook named it (kernel side).

Event, on the same JSON-lines file as grader.probe.recorder's:

- ``fitted``: at the end of a cell that made optimizer updates, what fed the cell's last update: the inputs of
  the last loss computed before it (a ``torch.nn`` loss module or a ``torch.nn.functional`` loss: the function's
  name, its input and its target) and the last output of a module that is not a loss (a hand-written loss
  calls no loss function; the network's output is then the fitted values).

The grader compares these with the reference's, so a rubric never names the variable holding the fitted values.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from grader.probe.encode import FULL_TENSOR_LIMIT, encode_tensor

# torch.nn.functional's losses: (input, target, ...) each; the module losses call them, and are hooked as modules.
FUNCTIONAL_LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                     "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
                     "soft_margin_loss", "multilabel_soft_margin_loss")
# The loss module classes and the function each computes.
MODULE_LOSSES = {"CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss", "MSELoss": "mse_loss",
                 "L1Loss": "l1_loss", "SmoothL1Loss": "smooth_l1_loss", "HuberLoss": "huber_loss",
                 "BCELoss": "binary_cross_entropy", "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
                 "KLDivLoss": "kl_div", "PoissonNLLLoss": "poisson_nll_loss", "SoftMarginLoss": "soft_margin_loss",
                 "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss"}


class FittingRecorder:
    """Keeps the last loss inputs and the last network output; an update fixes them as what it was fitted to."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.loss: tuple[str, torch.Tensor, Any] | None = None  # (function, input, target) of the last loss
        self.output: tuple[torch.nn.Module, torch.Tensor] | None = None  # the last non-loss module's output
        self.at_step: tuple[str | None, Any, Any] | None = None  # (optimizer, loss, output) of this cell's last update
        self.in_loss = 0

    def install(self) -> None:
        functional = torch.nn.functional
        for name in FUNCTIONAL_LOSSES:
            original = getattr(functional, name, None)
            if original is not None:
                setattr(functional, name, self._recording(name, original))

    def _recording(self, name: str, original: Any) -> Any:
        @functools.wraps(original)
        def loss(input: Any, target: Any = None, *args: Any, **kwargs: Any) -> Any:
            if not self.in_loss and isinstance(input, torch.Tensor):  # a loss computed inside another is not the one
                self.loss = (name, input.detach(), target.detach() if isinstance(target, torch.Tensor) else None)
            self.in_loss += 1
            try:
                return original(input, target, *args, **kwargs)
            finally:
                self.in_loss -= 1

        return loss

    def on_forward(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(module, torch.nn.modules.loss._Loss):
            function = MODULE_LOSSES.get(type(module).__name__)
            if function is not None and inputs and isinstance(inputs[0], torch.Tensor):
                target = inputs[1] if len(inputs) > 1 and isinstance(inputs[1], torch.Tensor) else None
                self.loss = (function, inputs[0].detach(), None if target is None else target.detach())
        elif isinstance(output, torch.Tensor):
            self.output = (module, output.detach())

    def after_step(self, optimizer_key: str | None) -> None:
        """The loss and output since the previous update fed this one (copies: the notebook may change the
        tensors in place later); the next update starts afresh, so nothing from an earlier cell is taken for it."""
        loss = None if self.loss is None else (self.loss[0], _kept(self.loss[1]),
                                               None if self.loss[2] is None else _kept(self.loss[2]))
        output = None if self.output is None else (self.output[0], _kept(self.output[1]))
        self.at_step = (optimizer_key, loss, output)
        self.loss = self.output = None

    def on_cell_end(self) -> None:
        if self.at_step is None:
            return
        optimizer, loss, output = self.at_step
        self.at_step = None
        self.recorder.emit({
            "event": "fitted",
            "optimizer": optimizer,
            "loss": None if loss is None else {"function": loss[0], "input": encode_tensor(loss[1]),
                                               "target": None if loss[2] is None else encode_tensor(loss[2])},
            "output": None if output is None else {"module": self.recorder.register_module(output[0]),
                                                   "value": encode_tensor(output[1])},
        })


def _kept(tensor: torch.Tensor) -> torch.Tensor:
    """A copy of a tensor small enough to record in full; a large one is only summarised, from the tensor itself."""
    return tensor.clone() if tensor.numel() <= FULL_TENSOR_LIMIT else tensor
