"""The one registry behind cells, model families and tasks."""

import pytest

from rnnlab._registry import Registry
from rnnlab.cells.registry import cell_entry
from rnnlab.tasks.registry import task_entry


def test_a_name_registered_twice_is_an_error_naming_it():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError, match=r"^widget 'a' is already registered$"):
        reg.add("a", 2)
    assert reg["a"] == 1


def test_an_unknown_name_lists_the_known_ones_and_the_hint():
    reg: Registry[int] = Registry("widget", "add one with add()")
    reg.add("b", 2)
    reg.add("a", 1)
    with pytest.raises(ValueError) as error:
        reg["c"]
    assert str(error.value) == "unknown widget 'c'; expected one of a, b (add one with add())"
    assert reg.names() == ["a", "b"] and "a" in reg and "c" not in reg


def test_a_copy_takes_new_entries_without_touching_the_original():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    other = reg.copy()
    other.add("b", 2)
    assert reg.names() == ["a"] and other.names() == ["a", "b"]


def test_the_library_registries_speak_through_it():
    with pytest.raises(ValueError, match=r"^unknown cell 'nosuch'; expected .*gru.*--plugin"):
        cell_entry("nosuch")
    with pytest.raises(ValueError, match=r"^unknown task 'nosuch'; expected one of .*copy"):
        task_entry("nosuch")
