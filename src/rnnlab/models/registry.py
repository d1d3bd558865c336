"""Model families by name: ``register_model(name, description, Config, build)``.

A family is a frozen dataclass of its options (``Config``, one field per option; field
``metadata`` may carry ``help`` and a CLI ``flag`` name, from which ``rnnlab train`` makes
its flags) and a builder ``build(config, spec) -> nn.Module`` that returns a model for a
task's :class:`~rnnlab.tasks.spec.TaskSpec` (or raises a one-line ``ValueError`` naming the
task kinds it serves). A run folder stores ``{"family": name, **fields}`` as its model.

A family may also claim shorthand names for ``--model``: the ``rnn`` family claims every
registered cell (``--model lstm`` is ``--model rnn --cell lstm``) and its stacks
(``--model dilated --cell gru``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from rnnlab._plugins import load_entry_points
from rnnlab._registry import Registry
from rnnlab.tasks.spec import TaskSpec

ModelBuilder = Callable[[Any, TaskSpec], nn.Module]


@dataclass(frozen=True)
class ModelFamily:
    """A registered model family.

    Attributes:
        name: the family's name (``rnn``).
        description: one line for ``rnnlab list``.
        config: the frozen dataclass of its options.
        build: ``(config, spec) -> model``.
        shorthands: names ``--model`` accepts for this family, each with the config fields
            it sets (``{"lstm": {"cell": "lstm"}}``); a callable, so that cells registered
            later are included.
    """

    name: str
    description: str
    config: type[Any]
    build: ModelBuilder
    shorthands: Callable[[], dict[str, dict[str, Any]]] = dict

    def make_config(self, fields: dict[str, Any]) -> Any:
        """The family's config from ``fields``; unknown fields are a one-line error."""
        known = {f.name for f in dataclasses.fields(self.config)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(
                f"model family {self.name!r} has no option {unknown[0]!r}; expected one of "
                f"{', '.join(sorted(known))}"
            )
        return self.config(**fields)


_FAMILIES: Registry[ModelFamily] = Registry("model family")


def register_model(
    name: str,
    description: str,
    config: type[Any],
    build: ModelBuilder,
    shorthands: Callable[[], dict[str, dict[str, Any]]] = dict,
) -> None:
    """Add a model family under ``name`` (see the module docstring)."""
    if not (dataclasses.is_dataclass(config) and isinstance(config, type)):
        raise TypeError(f"model family {name!r}: config must be a dataclass type, got {config!r}")
    _FAMILIES.add(name, ModelFamily(name, description, config, build, shorthands))


def family_names() -> list[str]:
    return _FAMILIES.names()


def model_family(name: str) -> ModelFamily:
    return _FAMILIES[name]


def model_names() -> list[str]:
    """Every name ``--model`` accepts: the families and their shorthands."""
    names = set(_FAMILIES)
    for family in _FAMILIES.values():
        names.update(family.shorthands())
    return sorted(names)


def resolve_model_name(name: str) -> tuple[ModelFamily, dict[str, Any]]:
    """``--model NAME`` -> the family and the config fields the name sets."""
    for attempt in range(2):
        if name in _FAMILIES:
            return _FAMILIES[name], {}
        for family in _FAMILIES.values():
            fields = family.shorthands().get(name)
            if fields is not None:
                return family, dict(fields)
        if attempt == 0:
            load_entry_points()  # an installed plugin may provide it
    raise ValueError(
        f"unknown model {name!r}; expected one of {', '.join(model_names())} (a cell or "
        "model family of your own: register it in a plugin, loaded with --plugin FILE.py)"
    )


def family_of(config: Any) -> ModelFamily:
    """The registered family whose config class ``config`` is."""
    for family in _FAMILIES.values():
        if type(config) is family.config:
            return family
    raise ValueError(f"{type(config).__name__} is not the config of a registered model family")


def build_model(config: Any, spec: TaskSpec) -> nn.Module:
    """The model ``config`` describes, for a task with interface ``spec``.

    Example::

        model = build_model(RNNConfig(cell="gru"), TaskSpec("classify", 1, 10))
    """
    family = family_of(config)
    model = family.build(config, spec)
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "causal", None), bool):
        raise TypeError(
            f"model family {family.name!r}: build must return an nn.Module with a bool "
            f"`causal` and forward(batch, state) -> (outputs, state), got {type(model).__name__}"
        )
    return model


def config_to_json(config: Any) -> dict[str, Any]:
    """``{"family": name, **fields}``: how a run folder stores its model."""
    return {"family": family_of(config).name, **dataclasses.asdict(config)}


def config_from_json(data: dict[str, Any]) -> Any:
    """The config stored by :func:`config_to_json`. A dict without ``family`` (run folders
    written before families existed) is the ``rnn`` family's, migrated by its
    ``from_legacy`` classmethod when it has one."""
    data = dict(data)
    name = data.pop("family", None)
    family = model_family(name if name is not None else "rnn")
    legacy = getattr(family.config, "from_legacy", None)
    if name is None and callable(legacy):
        data = legacy(data)
    for f in dataclasses.fields(family.config):  # JSON stores tuples as lists
        if isinstance(data.get(f.name), list) and "tuple" in str(f.type):
            data[f.name] = tuple(data[f.name])
    return family.make_config(data)
