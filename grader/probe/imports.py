"""Hooks into the import system (kernel side): patch a module right after it first runs, and answer imports of
packages the grader stands in for, installed or not."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable
from typing import Any

Patch = Callable[[Any], None]
Exec = Callable[[Any], None]  # a loader's exec_module


def spec_of_the_others(finder: importlib.abc.MetaPathFinder, name: str, path: Any, target: Any = None) -> Any:
    """The spec the other finders on sys.meta_path find for `name` (None when none does): for a finder that only
    wraps what the import system would do anyway."""
    return next((spec for other in sys.meta_path if other is not finder and hasattr(other, "find_spec")
                 and (spec := other.find_spec(name, path, target)) is not None), None)


def run_around(spec: Any, around: Callable[[Exec, Any], None]) -> None:
    """The spec's module will run as `around(exec_module, module)`. Each spec has its own loader instance, so this
    touches no other module's import."""
    exec_module = spec.loader.exec_module
    setattr(spec.loader, "exec_module", lambda module: around(exec_module, module))


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Runs a patch right after a watched module is first executed, so a class is
    patched before any student code can take a reference to it."""

    def __init__(self, patches: dict[str, Patch]) -> None:
        self.patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        patch = self.patches.pop(name, None)
        if patch is None:
            return None
        spec = spec_of_the_others(self, name, path, target)
        if spec is None:
            return None
        if spec.loader is None:
            raise ImportError(f"the grader's probe cannot record {name}: its module spec has no loader to run it")

        def exec_and_patch(exec_module: Exec, module: Any) -> None:
            exec_module(module)
            patch(module)

        run_around(spec, exec_and_patch)
        return spec


def patch_when_imported(patches: dict[str, Patch]) -> None:
    """Patch each named module now if it is loaded (a warm kernel server preloaded it), else right after it is
    first imported."""
    pending = dict(patches)
    for name in list(pending):
        if name in sys.modules:
            pending.pop(name)(sys.modules[name])
    if pending:
        sys.meta_path.insert(0, _PatchAfterImport(pending))


class _StandInLoader(importlib.abc.Loader):
    def __init__(self, fill: Callable[[types.ModuleType], None]) -> None:
        self.fill = fill

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        self.fill(module)


class StandInModules(importlib.abc.MetaPathFinder):
    """Imports of these names get the grader's stand-in modules, whether or not the real package is installed
    (first on sys.meta_path): `fill` puts the stand-in's names into the new module. A package's name maps to a
    fill too, so `import pkg.sub` and `from pkg import sub` both work when both are listed."""

    def __init__(self, modules: dict[str, Callable[[types.ModuleType], None]]) -> None:
        self.modules = modules

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        fill = self.modules.get(name)
        if fill is None:
            return None
        is_package = any(other.startswith(name + ".") for other in self.modules)
        return importlib.machinery.ModuleSpec(name, _StandInLoader(fill), is_package=is_package)

    def install(self) -> None:
        for name in self.modules:
            sys.modules.pop(name, None)  # a real one a warm server preloaded: the stand-in replaces it
        sys.meta_path.insert(0, self)
