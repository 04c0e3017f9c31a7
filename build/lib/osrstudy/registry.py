"""Name -> implementation registries with did-you-mean errors.

Datasets, backbones, losses, scorers and metrics each live in one registry, so a config typo is
caught before any job starts and a new entry needs no edit anywhere but its own module.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A config names something no registry knows. str() is the full, user-facing message."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def __getitem__(self, name: str) -> T:
        self.check(name)
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def in_registration_order(self) -> list[str]:
        """The order entries were registered in (their module's order): defaults that list every
        entry use it, so a new entry joins them at the end."""
        return list(self._entries)

    def check(self, name: str, where: str = "") -> None:
        if name not in self._entries:
            at = f" (in {where})" if where else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{at}.{did_you_mean(name, self.names())} "
                f"Known: {', '.join(self.names())}."
            )


def check_options(kind: str, given: dict, defaults: dict, where: str = "") -> dict:
    """Merge user options over declared defaults; reject unknown keys with a did-you-mean."""
    at = f" (in {where})" if where else ""
    for key in given:
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "none"
            raise UnknownNameError(
                f"unknown option {key!r} for {kind}{at}.{did_you_mean(key, list(defaults))} "
                f"Options it takes: {allowed}."
            )
        if not same_kind(given[key], defaults[key]):
            raise TypeError(
                f"option {key!r} of {kind}{at} is {given[key]!r} ({type(given[key]).__name__}); "
                f"it takes a {kind_of(defaults[key])}, like its default {defaults[key]!r}"
            )
    return {**defaults, **given}


def kind_of(value) -> str:
    if isinstance(value, bool):
        return "boolean (true or false)"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def same_kind(value, default) -> bool:
    """Whether a user's option value has the kind of its default (any int is a number; a boolean
    is not; a default of None takes anything)."""
    if default is None:
        return True
    return kind_of(value) == kind_of(default)
