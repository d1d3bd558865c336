"""Plugins: code outside rnnlab that registers cells, model families or tasks.

Two ways in:

* an installed package declares entry points in the groups ``rnnlab.cells``,
  ``rnnlab.models`` or ``rnnlab.tasks`` (each pointing at a module whose import calls
  ``register_cell`` / ``register_model`` / ``register_task``); they are imported the first
  time a registry is asked for a name it does not know (:func:`load_entry_points`);
* a local module or ``.py`` file named with ``--plugin`` (:func:`load_plugin`).

Every plugin loaded is remembered (:func:`loaded_plugins`) so that a run folder records the
plugins its model needs, and ``rnnlab eval`` / ``rnnlab.load`` import them again (a missing
one is a one-line error naming it).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

GROUPS = ("rnnlab.cells", "rnnlab.models", "rnnlab.tasks")

_loaded: list[str] = []  # plugin specs in load order (module names or absolute file paths)
_entry_points_loaded = False


def load_entry_points() -> None:
    """Import every module declared in the rnnlab entry-point groups (once per process)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for group in GROUPS:
        for point in entry_points(group=group):
            try:
                point.load()
            except Exception as exc:  # a broken plugin must not break rnnlab
                raise ImportError(
                    f"rnnlab plugin {point.name!r} ({point.value}, entry point group {group}) "
                    f"failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            _remember(point.value.split(":")[0])


def load_plugin(spec: str) -> ModuleType:
    """Import a plugin: a module name (``my_package.cells``) or a path to a ``.py`` file.
    Loading the same plugin twice imports it once."""
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"plugin file {spec} does not exist")
        name = f"rnnlab_plugin_{path.stem}_{abs(hash(str(path))) % 10**8}"
        if name in sys.modules:
            return sys.modules[name]
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"plugin {spec} is not an importable Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
        _remember(str(path))
        return module
    try:
        module = importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"plugin module {spec!r} not found ({exc})") from None
    _remember(spec)
    return module


def load_recorded(plugins: list[str], where: str) -> None:
    """Import the plugins a run folder recorded. One that cannot be imported is a one-line
    error naming it, unless other plugins were loaded in this process (``--plugin`` with
    its new location): building the model then says whether what it needs is there."""
    given = list(_loaded)
    for spec in plugins:
        try:
            load_plugin(spec)
        except (ImportError, FileNotFoundError) as exc:
            if given:
                continue
            raise ImportError(
                f"{where} needs the plugin {spec!r}, which cannot be imported: {exc}; "
                "install it, or pass --plugin with its new location"
            ) from None


def loaded_plugins() -> list[str]:
    """The plugins imported so far (module names or absolute file paths), in load order."""
    return list(_loaded)


def _remember(spec: str) -> None:
    if spec not in _loaded:
        _loaded.append(spec)
