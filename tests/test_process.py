"""The node's process settings (registry_node/process.py)."""

from __future__ import annotations

import ctypes.util

import pytest

from registry_node import process


def test_the_operators_own_arena_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert process.limit_malloc_arenas() is False


def test_arenas_are_capped_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    libc = ctypes.util.find_library("c")
    assert libc is not None and "libc.so" in libc  # the machines the node runs on use glibc
    assert process.limit_malloc_arenas() is True


def test_no_c_library_leaves_the_process_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(process.ctypes.util, "find_library", lambda name: None)
    assert process.limit_malloc_arenas() is False
