"""The interpreter that reads a module and builds its flow trees.

Each function (and the module body) is read statement by statement, in
source order, with an environment that maps names to abstract values. Calls
that matter become events in the function's flow tree; everything else is
skipped. The reading is split by topic: definitions (the pre-pass),
statements, expressions and calls are mixins of :class:`Builder`, and the
PyTorch API is a set of handler tables in :mod:`clsaudit.semantic.api`.
"""

from __future__ import annotations

import libcst as cst
from clsaudit.semantic import flow
from clsaudit.semantic.calls import CallReader
from clsaudit.semantic.definitions import ClassInfo, Ctx, DefinitionCollector, FunctionInfo
from clsaudit.semantic.expressions import ExpressionReader
from clsaudit.semantic.names import ImportTable
from clsaudit.semantic.statements import StatementReader
from clsaudit.semantic.values import Value

__all__ = ["Builder", "ClassInfo", "Ctx", "FunctionInfo"]


class Builder(DefinitionCollector, StatementReader, ExpressionReader, CallReader):
    def __init__(self, module: cst.Module, path: str, call_args: dict | None = None) -> None:
        self.module = module
        self.path = path
        self.imports = ImportTable()
        self.functions: dict[str, FunctionInfo] = {}  # qualname -> info
        self.classes: dict[str, ClassInfo] = {}
        self.defined_at: dict[cst.FunctionDef, FunctionInfo] = {}  # module-level def -> its function
        self.module_fn = FunctionInfo(None, "<module>", "<module>", None, self)
        self.module_env: dict[str, Value] = {}
        self.all_events: list[flow.Event] = []
        self.module_shadowed: set[str] = set()
        self.bound_names: dict[cst.CSTNode, set[str]] = {}  # loader/sampler/dataset node -> names
        self.external: dict[str, object] = {}  # cross-file summaries (set by the model)
        self.peeking = 0  # > 0 while re-reading an expression for its value only (no events recorded)
        # every call site's argument values per function and parameter, from a first reading of the
        # whole file: a parameter's value is the join over all its callers, whatever their order
        self.stat_results: dict[flow.Event, list] = {}  # STAT event -> the StatOf payloads it produced
        self.prior_call_args: dict[str, dict[str, list[Value]]] = call_args or {}
