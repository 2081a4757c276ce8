"""One registry helper for every family of interchangeable parts (pyiqa-style).

Extractors, task-weighting strategies, extraction engines and baselines each keep one
:class:`Registry`. A part is one module in the family's package that registers itself
with ``@REGISTRY.register("name")``; the registry imports every module of that package
the first time a name is looked up, so adding a part is adding one file. Third-party
packages add parts through the entry-point group of the family (e.g. ``tqa.extractors``)
in their own ``pyproject.toml``::

    [project.entry-points."tqa.extractors"]
    my_visual = "my_pkg.my_module:MyExtractor"

A typo gets a "did you mean" suggestion; a built-in module whose optional dependency is
missing is reported by name instead of vanishing silently.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import pkgutil
from collections.abc import Callable
from importlib import metadata
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown name in a registry; the message lists the known names and a suggestion."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Name -> object (a class or a function) for one family of parts.

    kind: what the parts are, for messages ("extractor", "weighting strategy").
    package: dotted package whose modules are imported to register the built-in parts.
    entry_point_group: the ``importlib.metadata`` group third-party parts are found in.
    """

    def __init__(
        self, kind: str, package: str | None = None, entry_point_group: str | None = None
    ) -> None:
        self.kind = kind
        self.package = package
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._unavailable: dict[str, str] = {}  # module or entry point -> why it failed to load
        self._loaded = False

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@REG.register("name")`` (default: the object's ``name`` attribute)."""

        def deco(obj: T) -> T:
            key = name or getattr(obj, "name", None)
            if not key:
                raise ValueError(f"{self.kind} {obj!r} needs a name")
            self.add(str(key), obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` as ``name``; a second, different object under one name is an error."""
        old = self._items.get(name)
        if (
            old is not None
            and old is not obj
            and getattr(old, "__qualname__", None) != getattr(obj, "__qualname__", 0)
        ):
            raise ValueError(f"two {self.kind}s named {name!r}: {old!r} and {obj!r}")
        self._items[name] = obj

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.package:
            pkg = importlib.import_module(self.package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                full = f"{self.package}.{mod.name}"
                try:
                    importlib.import_module(full)
                except ImportError as exc:  # optional dependency of one part: the others still work
                    self._unavailable[full] = f"needs {getattr(exc, 'name', None) or exc}"
                    log.debug("%s module %s unavailable: %s", self.kind, full, exc)
        if self.entry_point_group:
            for ep in metadata.entry_points(group=self.entry_point_group):
                try:
                    self.add(ep.name, ep.load())
                except Exception as exc:  # a broken plug-in must not break the built-ins
                    self._unavailable[f"{ep.name} ({ep.value})"] = str(exc)
                    log.warning("%s plug-in %s failed to load: %s", self.kind, ep.value, exc)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._items)

    def items(self) -> dict[str, T]:
        """A copy of name -> object."""
        self._load()
        return dict(sorted(self._items.items()))

    def unavailable(self) -> dict[str, str]:
        """Built-in modules / plug-ins that failed to import, with the reason."""
        self._load()
        return dict(self._unavailable)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def get(self, name: str) -> T:
        """The object registered as ``name``; :class:`RegistryError` naming the close matches."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            pass
        msg = f"no {self.kind} named {name!r}; available: {', '.join(self.names()) or 'none'}"
        close = difflib.get_close_matches(str(name), list(self._items), n=1, cutoff=0.6)
        if close:
            msg += f". Did you mean {close[0]!r}?"
        if self._unavailable:
            msg += "; not loaded: " + "; ".join(f"{k} ({v})" for k, v in self._unavailable.items())
        raise RegistryError(msg)
