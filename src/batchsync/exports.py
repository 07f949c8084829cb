"""A package's public names, loaded on first use (PEP 562) rather than when the package is imported.

`import batchsync` used to import all of batchsync: the engine, the HTTP client, the service's models. A
process that needs one part (the writer process imports `batchsync.engine.offload.child`, which goes
through `batchsync/__init__` and `batchsync/engine/__init__` first) paid for all of it: about 10 MB and
a fifth of a second. The packages' `__init__` now list where each public name lives and hand this
module's `__getattr__` to Python; type checkers read the same names from their `TYPE_CHECKING` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping


def loader(
    package: str, namespace: MutableMapping[str, object], where: Mapping[str, tuple[str, str]]
) -> Callable[[str], object]:
    """The module `__getattr__` of `package`: `where[name]` is (module, attribute). A name once loaded
    is stored in `namespace` (the package's globals), so later lookups are plain attribute reads."""

    def __getattr__(name: str) -> object:
        try:
            module, attribute = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value
        return value

    return __getattr__
