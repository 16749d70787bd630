"""One simple registry per extension point: parsers, detectors, playbook steps.

A plug-in is a module that defines a class and decorates it with ``@parsers.register``
(or ``detectors`` / ``steps``). ``load_plugins`` imports every module of the configured
packages, so adding a plug-in is adding one file. The core never imports plug-in packages
statically: they are named in the settings (``plugins``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from cert.core.errors import NotFound

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} plug-in {cls.__qualname__} needs a non-empty class attribute 'name'")
        existing = self._items.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"two {self.kind} plug-ins are named {name!r}: {existing} and {cls}")
        self._items[name] = cls
        return cls

    def get(self, name: str) -> type[T]:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise NotFound(f"no {self.kind} named {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[type[T]]:
        return iter([self._items[n] for n in self.names()])

    def __contains__(self, name: object) -> bool:
        return name in self._items


_loaded: set[str] = set()


def load_plugins(packages: Iterable[str]) -> None:
    """Import every module of each package once, so their classes register themselves."""
    for package_name in packages:
        if package_name in _loaded:
            continue
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(getattr(package, "__path__", []), package_name + "."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(info.name)
        _loaded.add(package_name)


def lazy(factory: Callable[[], T]) -> Callable[[], T]:
    cache: list[T] = []

    def get() -> T:
        if not cache:
            cache.append(factory())
        return cache[0]

    return get
