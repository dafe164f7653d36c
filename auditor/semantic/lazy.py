"""libcst on first use.

Rule modules are imported to list the catalogue (`clsaudit rules`,
`clsaudit explain`, a run whose every file comes from the cache) where no
file is parsed; importing libcst there would cost most of the start-up.
Rules take ``cst`` and ``dotted`` from here; the parse path imports libcst
anyway, so the proxy only ever defers the import.
"""

from __future__ import annotations

import importlib
from typing import Any


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


cst: Any = _LazyModule("libcst")


def dotted(node: Any) -> str | None:
    """``a.b.c`` for a Name/Attribute chain (see :func:`clsaudit.semantic.names.dotted`)."""
    from clsaudit.semantic.names import dotted as _dotted

    return _dotted(node)
