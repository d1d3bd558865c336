"""Options of the config dataclasses, with what the command line needs to know of them.

``option(default, flag=..., help=...)`` is a ``dataclasses.field`` whose ``metadata``
carries the CLI flag's name, its help, its ``choices``, a ``negative`` flag (which sets a
bool to ``False`` or an optional value to ``None``) and the argument ``type`` when the
field's annotation is not enough (``int`` for a count that may be 0; positive by default).
``rnnlab.cli.flags`` makes the flags from them, so a new option is one line here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

_MISSING: Any = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    *,
    flag: str | None = None,
    help: str = "",
    negative: str | None = None,
    choices: Iterable[str] | None = None,
    type: Callable[[str], Any] | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with CLI metadata (see the module docstring)."""
    metadata: dict[str, Any] = {"flag": flag, "help": help}
    if negative is not None:
        metadata["negative"] = negative
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if type is not None:
        metadata["type"] = type
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
