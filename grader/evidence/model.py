"""Typed events of the probe's JSON-lines file (see grader.probe.recorder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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


class ModuleInfo(_Event):
    event: Literal["module"]
    key: str
    class_: str = Field(alias="class")
    module: str
    repr: str
    params: list[ParamShape]
    total_params: int
    children: list[str]

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


AnyEvent = Annotated[
    Union[ProbeEvent, CellEvent, ModuleInfo, ForwardEvent, StepEvent, ParamsEvent, OverflowEvent],
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
    snapshots: list[ParamsEvent] = field(default_factory=list)
    overflows: list[OverflowEvent] = field(default_factory=list)
    runs: int = 0  # cells that started running
    foreign_lines: list[int] = field(default_factory=list)  # lines out of the probe's sequence, ignored

    def events(self) -> list[_Event]:
        """The recorded events in order (cell starts are kept only as a count)."""
        found: list[_Event] = [*self.modules.values(), *self.forwards, *self.steps, *self.snapshots, *self.overflows]
        return ([self.probe] if self.probe else []) + sorted(found, key=lambda event: event.seq)

    def to_jsonl(self) -> str:
        return "".join(event.model_dump_json(by_alias=True) + "\n" for event in self.events())

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
