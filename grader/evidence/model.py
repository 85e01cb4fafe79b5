"""Typed events of the probe's JSON-lines file (see grader.probe.recorder)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from grader.probe.protocol import array_line

_FLOAT_WORDS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


class EvidenceError(Exception):
    """The evidence file is missing, too large or malformed."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    seq: int
    run: int = Field(ge=0)


class TensorData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shape: list[int]
    dtype: str
    data: list[float | Literal["nan", "inf", "-inf"]] | None = None
    summary: dict[str, float | str | None] | None = None

    def array(self) -> np.ndarray | None:
        """The full value, or None when only a summary was recorded."""
        if self.data is None:
            return None
        values = np.array([_FLOAT_WORDS[v] if isinstance(v, str) else v for v in self.data], dtype=np.float64)
        if values.size != int(np.prod(self.shape, dtype=np.int64)):
            raise EvidenceError(f"tensor data has {values.size} values for shape {self.shape}")
        return values.reshape(self.shape)


class ProbeEvent(_Event):
    event: Literal["probe"]
    version: int
    torch: str


class CellEvent(_Event):
    event: Literal["cell"]


class ClassInfo(BaseModel):
    """A class of a module's method resolution order: `module.qualname`, and where it was written."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    defined_in: Literal["notebook", "submission", "library"]

    @property
    def own(self) -> bool:
        """Written by the student: in the notebook or in a file of the submission."""
        return self.defined_in != "library"


class ModuleInfo(_Event):
    event: Literal["module"]
    key: str
    class_: str = Field(alias="class")
    module: str
    repr: str
    params: list[ParamShape]
    total_params: int
    children: list[str]
    classes: list[ClassInfo] = Field(default_factory=list)  # the class, then its bases up to torch.nn.Module

    def describe(self) -> str:
        return f"{self.class_}({self.repr})"

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {param.name: tuple(param.shape) for param in self.params}


class ParamShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    key: str
    shape: list[int]


class ForwardEvent(_Event):
    event: Literal["forward"]
    module: str
    output: TensorData
    input: TensorData | None = None  # the first forward of each module only


class LossInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    function: str  # torch.nn.functional's name for it: cross_entropy, mse_loss, ...
    input: TensorData
    target: TensorData | None


class ModuleOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    module: str  # module key
    value: TensorData


class FittedEvent(_Event):
    """What a cell's last optimizer update was fitted to: the last loss's inputs and the last network output
    before it (grader.probe.fitting)."""

    event: Literal["fitted"]
    optimizer: str | None
    loss: LossInputs | None
    output: ModuleOutput | None


class ParamStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    shape: list[int]
    before: TensorData
    grad: TensorData | None
    after: TensorData
    state_step: int | None


class StepEvent(_Event):
    event: Literal["step"]
    optimizer: str
    class_: str = Field(alias="class")
    hyper: dict[str, Any]
    params: list[ParamStep]


class ParamSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    value: TensorData
    grad: TensorData | None


class ParamsEvent(_Event):
    event: Literal["params"]
    params: list[ParamSnapshot]


class OverflowEvent(_Event):
    event: Literal["overflow"]
    what: str


ArrayName = Annotated[str, Field(pattern=r"^a[0-9]{1,6}$")]  # an array line of the evidence file


class DataLoadersEvent(_Event):
    """`ImageDataLoaders.from_folder` returned."""

    event: Literal["dataloaders"]
    key: str
    source: str
    path: str
    vocab: list[str]
    train: int
    valid: int
    class_counts: dict[str, int]  # items per class folder, both splits
    item_size: list[int] | None


class LearnerEvent(_Event):
    event: Literal["learner"]
    key: str
    model: str | None  # module key
    dls: str | None  # key of a recorded DataLoaders
    loss: str


class FitEvent(_Event):
    """`Learner.fit` ended (fine_tune and fit_one_cycle call it)."""

    event: Literal["fit"]
    learner: str | None
    model: str | None
    epochs_requested: int | None
    epochs: int  # rows in the learner's recorder
    names: list[str]  # the columns of `values`: train_loss, valid_loss, metrics
    values: list[list[float | str | None]]
    error: str | None

    def final(self) -> dict[str, float | str | None]:
        """The last epoch's losses and metrics by name (the recorder's rows start with the epoch)."""
        if not self.values:
            return {}
        row = self.values[-1]
        return dict(zip(self.names, row[1:] if len(row) == len(self.names) + 2 else row))


class ImshowEvent(_Event):
    """`Axes.imshow` drew an array."""

    event: Literal["imshow"]
    axes: str
    array: ArrayName
    shape: list[int]
    subsampled: int
    alpha: float | None
    cmap: str | None
    extent: list[float]  # left, right, bottom, top, in the axes' data coordinates
    origin: Literal["upper", "lower"] = "upper"  # where row 0 is drawn


class CamInputEvent(_Event):
    """An image the notebook fed to a model, taken through its last trained model by the probe."""

    event: Literal["cam_input"]
    model: str | None
    body: str | None = None
    head: str | None = None
    fed_in_run: int
    arrays: dict[Literal["input", "features", "grads", "logits", "last_linear"], ArrayName] = Field(default_factory=dict)
    unsupported: str | None = None


class DeviceFallbackEvent(_Event):
    event: Literal["device_fallback"]
    call: str


class CaptureEvent(_Event):
    """An expression the rubric named, evaluated after a cell (grader.captures): its value, or its error."""

    event: Literal["capture"]
    id: str
    what: Literal["value", "parameter_count", "predictions", "module_output"]
    error: str | None = None
    type: str | None = None  # the Python type of the value: Tensor, ndarray, float, Size, str, ...
    shape: list[int] | None = None
    dtype: str | None = None
    array: ArrayName | None = None  # None for a string, a parameter count, or a value too large to keep
    text: str | None = None
    total: int | None = None  # parameter_count
    trainable: int | None = None

    def describe_type(self) -> str:
        if self.shape is None:
            return self.type or "?"
        return f"{self.type} of shape {tuple(self.shape)} ({self.dtype})"


class SearchEvent(_Event):
    """An image search the grader's crawl stand-in answered (grader.probe.offline)."""

    event: Literal["search"]
    api: str
    keyword: str
    asked: int | None  # results asked for; None when the call did not say
    given: int
    cls: int | None  # which of the crawl asset's classes answered (0: A, 1: B); None without crawl images


class DownloadEvent(_Event):
    """A crawler or `download_images` call: what the stand-in put into the folder the notebook named."""

    event: Literal["download"]
    api: str
    dest: str  # relative to the notebook's folder when inside it
    written: int
    kept: bool  # the folder held the student's own images, which were used instead
    keyword: str | None = None


class UrlEvent(_Event):
    """A URL the notebook read: served from the download cache, or refused (not cached; offline)."""

    event: Literal["url"]
    api: str
    url: str
    served: Literal["cache", "refused"]


class CrawlImagesEvent(_Event):
    """The crawl images the kernel had, told once, when a search or crawl first asked for them."""

    event: Literal["crawl_images"]
    status: Literal["real", "synthetic"] | None  # None: the asset cache had none
    classes: list[str]


class ClockEvent(_Event):
    """The virtual clock after a cell that slept: the notebook's sleeps so far, and the seconds they skipped."""

    event: Literal["clock"]
    sleeps: int
    seconds: float


class InjectedEvent(_Event):
    """Parameters the probe set to given values before a cell (a replay from a student's state)."""

    event: Literal["injected"]
    keys: list[str]
    missing: list[str]  # asked for, but no such parameter (or another shape) existed then


class ProbeErrorEvent(_Event):
    event: Literal["probe_error"]
    where: str
    error: str


class ArrayEvent(_Event):
    """An array's line (grader.probe.protocol.array_line). Not an AnyEvent: it is read only in its own layout,
    its npy field sliced from the line's bytes rather than parsed as a JSON string (grader.evidence.read)."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)
    event: Literal["array"]
    name: ArrayName
    npy: memoryview  # the base64 of np.save's bytes, a view into the line


AnyEvent = Annotated[
    Union[ProbeEvent, CellEvent, ModuleInfo, ForwardEvent, StepEvent, ParamsEvent, OverflowEvent,
          DataLoadersEvent, LearnerEvent, FitEvent, ImshowEvent, CamInputEvent, DeviceFallbackEvent, ProbeErrorEvent,
          CaptureEvent, SearchEvent, DownloadEvent, UrlEvent, CrawlImagesEvent, ClockEvent, FittedEvent,
          InjectedEvent],
    Field(discriminator="event"),
]
ModuleInfo.model_rebuild()


@dataclass
class Evidence:
    """Everything the probe recorded in one kernel, in order."""

    probe: ProbeEvent | None = None
    modules: dict[str, ModuleInfo] = field(default_factory=dict)
    forwards: list[ForwardEvent] = field(default_factory=list)
    steps: list[StepEvent] = field(default_factory=list)
    fitted: list[FittedEvent] = field(default_factory=list)
    injected: list[InjectedEvent] = field(default_factory=list)
    snapshots: list[ParamsEvent] = field(default_factory=list)
    overflows: list[OverflowEvent] = field(default_factory=list)
    dataloaders: list[DataLoadersEvent] = field(default_factory=list)
    learners: list[LearnerEvent] = field(default_factory=list)
    fits: list[FitEvent] = field(default_factory=list)
    imshows: list[ImshowEvent] = field(default_factory=list)
    cam_inputs: list[CamInputEvent] = field(default_factory=list)
    device_fallbacks: list[DeviceFallbackEvent] = field(default_factory=list)
    probe_errors: list[ProbeErrorEvent] = field(default_factory=list)
    captures: dict[str, CaptureEvent] = field(default_factory=dict)  # by capture id
    searches: list[SearchEvent] = field(default_factory=list)
    downloads: list[DownloadEvent] = field(default_factory=list)
    urls: list[UrlEvent] = field(default_factory=list)
    crawl_images: CrawlImagesEvent | None = None
    clock: ClockEvent | None = None  # the last: the notebook's sleeps in all
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # the array lines events name, decoded
    runs: int = 0  # cells that started running
    foreign_lines: list[int] = field(default_factory=list)  # lines out of the probe's sequence, ignored

    def events(self) -> list[_Event]:
        """The recorded events in order (cell starts are kept only as a count)."""
        found: list[_Event] = [*self.modules.values(), *self.forwards, *self.steps, *self.fitted, *self.injected, *self.snapshots,
                               *self.overflows,
                               *self.dataloaders, *self.learners, *self.fits, *self.imshows, *self.cam_inputs,
                               *self.device_fallbacks, *self.probe_errors, *self.captures.values(),
                               *self.searches, *self.downloads, *self.urls,
                               *([self.crawl_images] if self.crawl_images else []), *([self.clock] if self.clock else [])]
        return ([self.probe] if self.probe else []) + sorted(found, key=lambda event: event.seq)

    def to_jsonl(self) -> str:
        return "".join(event.model_dump_json(by_alias=True) + "\n" for event in self.events())

    def array_lines(self) -> Iterator[bytes]:
        """The arrays as lines of a file the grader writes after `to_jsonl`'s; numbered 0, as numbers
        matter only in the probe's own file."""
        return (array_line(name, 0, 0, array) for name, array in self.arrays.items())

    def add(self, event: _Event) -> None:
        if isinstance(event, ProbeEvent):
            self.probe = event
        elif isinstance(event, CellEvent):
            self.runs = max(self.runs, event.run)
        elif isinstance(event, ModuleInfo):
            self.modules[event.key] = event
        elif isinstance(event, ForwardEvent):
            self.forwards.append(event)
        elif isinstance(event, StepEvent):
            self.steps.append(event)
        elif isinstance(event, ParamsEvent):
            self.snapshots.append(event)
        elif isinstance(event, OverflowEvent):
            self.overflows.append(event)
        elif isinstance(event, CaptureEvent):
            self.captures[event.id] = event
        elif isinstance(event, CrawlImagesEvent):
            self.crawl_images = event
        elif isinstance(event, ClockEvent):
            self.clock = event
        else:  # each list holds the events of its key's type
            lists: dict[type[_Event], list[Any]] = {
                DataLoadersEvent: self.dataloaders, LearnerEvent: self.learners, FitEvent: self.fits,
                ImshowEvent: self.imshows, CamInputEvent: self.cam_inputs, DeviceFallbackEvent: self.device_fallbacks,
                ProbeErrorEvent: self.probe_errors, SearchEvent: self.searches, DownloadEvent: self.downloads,
                UrlEvent: self.urls, FittedEvent: self.fitted,
                InjectedEvent: self.injected}
            lists[type(event)].append(event)

    def array_names(self) -> list[str]:
        """Every array the events name."""
        return [event.array for event in self.imshows] + [
            name for event in self.cam_inputs for name in event.arrays.values()] + [
            event.array for event in self.captures.values() if event.array is not None]

    def array(self, name: str) -> np.ndarray:
        found = self.arrays.get(name)
        if found is None:
            raise EvidenceError(f"the probe's array {name} is missing")
        return found
