"""A registry: named entries of one kind (cells, model families, tasks).

Registering a name twice is an error; looking up a name that is not registered first
imports the installed plugins' entry points (:func:`rnnlab._plugins.load_entry_points`),
then is a one-line error listing the known names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from rnnlab._plugins import load_entry_points

E = TypeVar("E")


class Registry(Generic[E]):
    """``kind`` names the entries in errors ("cell", "task"); ``hint`` ends the error of an
    unknown name (e.g. how to add one of your own)."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._entries: dict[str, E] = {}

    def add(self, name: str, entry: E) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def values(self) -> list[E]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __getitem__(self, name: str) -> E:
        """The entry ``name``, loading the plugins' entry points if it is not registered."""
        if name not in self._entries:
            load_entry_points()  # an installed plugin may provide it
        if name not in self._entries:
            hint = f" ({self.hint})" if self.hint else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}{hint}"
            )
        return self._entries[name]

    def copy(self) -> Registry[E]:
        """A registry with the same entries (tests register into a copy)."""
        other: Registry[E] = Registry(self.kind, self.hint)
        other._entries = dict(self._entries)
        return other
