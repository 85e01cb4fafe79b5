"""Evidence from fastai vision code and from what the notebook displays (kernel side).

Events, on the same JSON-lines file as grader.probe.recorder's:

- ``dataloaders``: ``ImageDataLoaders.from_folder`` returned: its path, vocab,
  items per split and per class folder, the size of one item after item transforms.
- ``learner``: a fastai ``Learner`` was built (``vision_learner`` and
  ``cnn_learner`` build one too): the key of its model in the module events
  and of its ``DataLoaders``. What the model is, the grader decides from the
  module tree.
- ``fit``: ``Learner.fit`` ended (``fine_tune`` and ``fit_one_cycle`` call it):
  epochs asked and recorded, the recorder's table, the exception if it raised.
- ``imshow``: ``Axes.imshow`` drew an array: the array (an array line), the
  axes it went to, alpha, colour map and extent.
- ``cam_input``: an image the notebook fed to a learner's model outside
  training, taken through the last trained learner's model by the probe: the
  input, the body's feature maps, their gradient for every class, the logits
  and the head's last linear weight, each an array line. The grader computes
  the class activation map from these; the probe never does.
- ``device_fallback``: ``--cpu-fallback`` sent a ``.cuda()`` call to the CPU.

Arrays are lines of the evidence file too (``Recorder.save_array``: np.save's
bytes, without pickle, in base64), each written just before the event naming it.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections import deque
from typing import Any, Callable

import numpy as np
import torch

from grader.probe.imports import patch_when_imported
from grader.probe.protocol import CPU_FALLBACK_ENV

MAX_IMSHOWS = 48
MAX_ANALYSED_INPUTS = 12
PENDING_INPUTS = 4  # the last images fed to a model, kept until a cell displays something
MAX_DISPLAY_SIDE = 256  # larger displayed arrays are subsampled
MAX_CLASSES = 16
MIN_IMAGE_SIDE = 32


class VisionRecorder:
    """Patches fastai and matplotlib classes (never module-level names, which
    `from … import *` copies) to record what Problem-1-style code did."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.learners: list[tuple[Any, str]] = []  # (weak learner ref, key), in order of creation
        self.dataloaders: dict[int, str] = {}
        self.watched: dict[int, str] = {}  # id(module) -> key, for learner models and their bodies
        self.last_trained: Any = None  # the model of the learner whose fit ended last without error
        self.in_fit = 0
        self.analysing = False
        self.pending: deque[tuple[torch.Tensor, int]] = deque(maxlen=PENDING_INPUTS)
        self.imshows = 0
        self.displayed_this_cell = False
        self.analysed = 0
        self.axes_keys: dict[int, tuple[Any, str]] = {}
        self.fallback_used = False

    def install(self) -> None:
        patches: dict[str, Callable[[Any], None]] = {
            "fastai.learner": self.patch_learner,
            "fastai.vision.data": self.patch_image_dataloaders,
            "matplotlib.axes": self.patch_axes,
        }
        patch_when_imported(patches)
        if os.environ.pop(CPU_FALLBACK_ENV, "") == "1" and not torch.cuda.is_available():
            self.patch_cuda_calls()
        self.recorder.shell.events.register("post_run_cell", self.on_cell_end)

    # -- fastai ------------------------------------------------------------------

    def patch_image_dataloaders(self, module: Any) -> None:
        loaders = module.ImageDataLoaders
        original = loaders.from_folder.__func__
        vision = self

        def from_folder(cls: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
            dls = original(cls, path, *args, **kwargs)
            vision.guard(vision.record_dataloaders, dls, path, kwargs)
            return dls

        # Its __doc__ and __wrapped__ (fastai's @delegates signature stays visible), nothing else of fastai's.
        functools.update_wrapper(from_folder, original, assigned=("__doc__",), updated=())
        loaders.from_folder = classmethod(from_folder)

    def record_dataloaders(self, dls: Any, path: Any, kwargs: dict[str, Any]) -> None:
        key = f"d{len(self.dataloaders) + 1}"
        self.dataloaders[id(dls)] = key
        splits = [list(getattr(ds, "items", []) or []) for ds in (dls.train_ds, dls.valid_ds)]
        counts: dict[str, int] = {}
        for item in splits[0] + splits[1]:
            folder = os.path.basename(os.path.dirname(str(item)))
            counts[folder] = counts.get(folder, 0) + 1
        item_size = None
        try:
            sample = dls.train.after_item(dls.train_ds[0])[0]
            item_size = list(sample.shape[-2:]) if hasattr(sample, "shape") else list(sample.size[::-1])
        except Exception:  # an unreadable first image is the student's problem, not evidence
            pass
        self.recorder.emit({
            "event": "dataloaders", "key": key, "source": "from_folder",
            "path": relative_path(str(path)), "vocab": [str(v) for v in getattr(dls, "vocab", [])][:MAX_CLASSES * 4],
            "train": len(splits[0]), "valid": len(splits[1]), "class_counts": counts, "item_size": item_size,
        })

    def patch_learner(self, module: Any) -> None:
        learner_class = module.Learner
        original_init, original_fit = learner_class.__init__, learner_class.fit
        vision = self

        def __init__(learn: Any, *args: Any, **kwargs: Any) -> None:
            original_init(learn, *args, **kwargs)
            vision.guard(vision.record_learner, learn)

        def fit(learn: Any, n_epoch: Any, *args: Any, **kwargs: Any) -> Any:
            vision.in_fit += 1
            error = None
            try:
                return original_fit(learn, n_epoch, *args, **kwargs)
            except BaseException as err:
                error = type(err).__name__
                raise
            finally:
                vision.in_fit -= 1
                vision.guard(vision.record_fit, learn, n_epoch, error)

        functools.update_wrapper(__init__, original_init, assigned=(), updated=())  # only __wrapped__
        functools.update_wrapper(fit, original_fit, assigned=(), updated=())
        learner_class.__init__, learner_class.fit = __init__, fit

    def record_learner(self, learn: Any) -> None:
        key = f"l{len(self.learners) + 1}"
        self.learners.append((weakref.ref(learn), key))
        model = learn.model
        model_key = self.recorder.register_module(model)
        self.watched[id(model)] = model_key
        children = list(model.children())
        if children:
            self.watched[id(children[0])] = self.recorder.modules.get(children[0])
        self.recorder.emit({
            "event": "learner", "key": key, "model": model_key,
            "dls": self.dataloaders.get(id(getattr(learn, "dls", None))),
            "loss": type(getattr(learn, "loss_func", None)).__name__,
        })

    def learner_key(self, learn: Any) -> str | None:
        return next((key for ref, key in self.learners if ref() is learn), None)

    def record_fit(self, learn: Any, n_epoch: Any, error: str | None) -> None:
        recorder = getattr(learn, "recorder", None)
        rows = [[_plain(v) for v in row] for row in (getattr(recorder, "values", None) or [])]
        names = [str(n) for n in (getattr(recorder, "metric_names", None) or [])]
        if error is None:
            self.last_trained = learn.model
        self.recorder.emit({
            "event": "fit", "learner": self.learner_key(learn), "model": self.recorder.modules.get(learn.model),
            "epochs_requested": int(n_epoch) if isinstance(n_epoch, int) else None,
            "epochs": len(rows), "names": [n for n in names if n not in ("epoch", "time")], "values": rows,
            "error": error,
        })

    # -- what the notebook shows -------------------------------------------------

    def patch_axes(self, module: Any) -> None:
        axes_class = module.Axes
        original = axes_class.imshow
        vision = self

        def imshow(ax: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
            image = original(ax, X, *args, **kwargs)
            vision.guard(vision.record_imshow, ax, image)
            return image

        functools.update_wrapper(imshow, original, assigned=("__doc__",), updated=())  # __doc__ and __wrapped__
        axes_class.imshow = imshow

    def record_imshow(self, ax: Any, image: Any) -> None:
        self.displayed_this_cell = True
        self.imshows += 1
        if self.imshows > MAX_IMSHOWS:
            if self.imshows == MAX_IMSHOWS + 1:
                self.recorder.emit({"event": "overflow", "what": "imshow"})
            return
        array = np.ma.getdata(image.get_array())
        array = np.asarray(array)
        step = max(1, -(-max(array.shape[:2]) // MAX_DISPLAY_SIDE))
        array = array[::step, ::step]
        if array.dtype != np.uint8:
            array = array.astype(np.float32)
        cmap = image.get_cmap()
        alpha = image.get_alpha()
        self.recorder.emit({
            "event": "imshow", "axes": self.axes_key(ax), "array": self.recorder.save_array(array),
            "shape": list(array.shape), "subsampled": step,
            "alpha": None if alpha is None or np.ndim(alpha) else float(alpha),
            "cmap": getattr(cmap, "name", None), "extent": [float(v) for v in image.get_extent()],
            "origin": str(image.origin),
        })

    def axes_key(self, ax: Any) -> str:
        entry = self.axes_keys.get(id(ax))
        if entry is None or entry[0] is not ax:
            entry = (ax, f"x{len(self.axes_keys) + 1}")
            self.axes_keys[id(ax)] = entry  # axes are few and kept alive by their figures anyway
        return entry[1]

    # -- images fed to a model, and what the model makes of them -----------------

    def on_forward(self, module: torch.nn.Module, inputs: Any) -> None:
        """Called by the recorder's forward hook, before its own filters."""
        if self.in_fit or id(module) not in self.watched or not inputs:
            return
        x = inputs[0]
        if (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == 3
                and min(x.shape[-2:]) >= MIN_IMAGE_SIDE and x.is_floating_point()):
            self.pending.append((x[:1].detach().to("cpu", torch.float32).clone(), self.recorder.run))

    def on_cell_end(self, result: Any) -> None:
        displayed, self.displayed_this_cell = self.displayed_this_cell, False
        if not displayed or not self.pending or self.last_trained is None:
            return
        while self.pending and self.analysed < MAX_ANALYSED_INPUTS:
            x, run = self.pending.popleft()
            self.analysed += 1
            self.guard(self.analyse, x, run)
        self.pending.clear()

    def analyse(self, x: torch.Tensor, fed_in_run: int) -> None:
        model = self.last_trained
        children = list(model.children())
        model_key = self.recorder.modules.get(model)
        if len(children) != 2:
            self.recorder.emit({"event": "cam_input", "model": model_key, "fed_in_run": fed_in_run,
                                "unsupported": f"the model has {len(children)} top-level parts, not body and head"})
            return
        body, head = children
        modes = [(m, m.training) for m in model.modules()]
        self.analysing = True
        try:
            model.eval()
            device = next(model.parameters()).device
            with torch.enable_grad():
                features = body(x.to(device)).detach().requires_grad_(True)
                logits = head(features)
                classes = min(int(logits.shape[-1]), MAX_CLASSES)
                grads = [torch.autograd.grad(logits[0, c], features, retain_graph=c + 1 < classes)[0][0]
                         for c in range(classes)]
        finally:
            self.analysing = False
            for m, training in modes:
                m.training = training
        linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
        arrays = {
            "input": x[0].numpy(),
            "features": features[0].detach().cpu().float().numpy(),
            "grads": torch.stack(grads).cpu().float().numpy(),
            "logits": logits[0, :classes].detach().cpu().float().numpy(),
        }
        if linears and linears[-1].in_features == features.shape[1]:
            arrays["last_linear"] = linears[-1].weight.detach()[:classes].cpu().float().numpy()
        self.recorder.emit({
            "event": "cam_input", "model": model_key, "body": self.recorder.modules.get(body),
            "head": self.recorder.modules.get(head), "fed_in_run": fed_in_run,
            "arrays": {name: self.recorder.save_array(value) for name, value in arrays.items()},
        })

    # -- --cpu-fallback ----------------------------------------------------------

    def patch_cuda_calls(self) -> None:
        """`.cuda()` and `.to("cuda…")` go to the CPU, once reported, so a GPU notebook runs here."""
        vision = self
        tensor_to, module_to = torch.Tensor.to, torch.nn.Module.to

        def on_cpu(what: str) -> None:
            if not vision.fallback_used:
                vision.fallback_used = True
                vision.recorder.emit({"event": "device_fallback", "call": what})

        def tensor_cuda(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            on_cpu("Tensor.cuda")
            return tensor

        def module_cuda(module: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.nn.Module:
            on_cpu("Module.cuda")
            return module

        def tensor_to_cpu(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            args, kwargs = _without_cuda(args, kwargs, on_cpu)
            return tensor_to(tensor, *args, **kwargs)

        def module_to_cpu(module: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.nn.Module:
            args, kwargs = _without_cuda(args, kwargs, on_cpu)
            return module_to(module, *args, **kwargs)

        def made_on_cpu(factory: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
            @functools.wraps(factory)
            def factory_on_cpu(*args: Any, **kwargs: Any) -> torch.Tensor:
                _, kwargs = _without_cuda((), kwargs, on_cpu, f"torch.{factory.__name__}(device=cuda)")
                return factory(*args, **kwargs)
            return factory_on_cpu

        # On the classes themselves, so every tensor and module has them, whoever made it.
        for owner, method, replacement in ((torch.Tensor, "cuda", tensor_cuda), (torch.nn.Module, "cuda", module_cuda),
                                           (torch.Tensor, "to", tensor_to_cpu), (torch.nn.Module, "to", module_to_cpu)):
            setattr(owner, method, replacement)
        # In torch's namespace, which the notebook's `torch.zeros(…, device="cuda")` looks up as it runs.
        for name in TENSOR_FACTORIES:
            setattr(torch, name, made_on_cpu(getattr(torch, name)))

    # -- never let the probe break a student's cell ------------------------------

    def guard(self, record: Callable[..., None], *args: Any) -> None:
        try:
            record(*args)
        except Exception as err:  # the student's code must run as it would without the grader
            self.recorder.emit({"event": "probe_error", "where": record.__name__,
                                "error": f"{type(err).__name__}: {err}"[:300]})


# The functions that make a tensor on the device they are given (`device=` is keyword-only in each).
TENSOR_FACTORIES = ("tensor", "as_tensor", "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm",
                    "arange", "linspace", "logspace", "eye", "zeros_like", "ones_like", "empty_like", "full_like",
                    "rand_like", "randn_like", "randint_like")


def _without_cuda(args: tuple, kwargs: dict, on_cpu: Callable[[str], None],
                  call: str = ".to(cuda)") -> tuple[tuple, dict]:
    """`args` and `kwargs` with every CUDA device named as the CPU; `on_cpu(call)` when there was one."""
    def is_cuda(value: Any) -> bool:
        return (isinstance(value, str) and value.startswith("cuda")) or (
            isinstance(value, torch.device) and value.type == "cuda")

    if any(is_cuda(a) for a in args) or is_cuda(kwargs.get("device")):
        on_cpu(call)
        args = tuple("cpu" if is_cuda(a) else a for a in args)
        if is_cuda(kwargs.get("device")):
            kwargs = {**kwargs, "device": "cpu"}
    return args, kwargs


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
        return value if value == value and abs(value) != float("inf") else None
    return str(value)[:40] if value is not None else None


def relative_path(path: str) -> str:
    """The path as given, relative to the working directory when inside it (no host paths in reports)."""
    cwd = os.getcwd()
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, cwd) if absolute.startswith(cwd + os.sep) or absolute == cwd else path
