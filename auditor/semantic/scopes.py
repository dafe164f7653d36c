"""Which names a function binds locally, so that imports are not mistaken for them."""

from __future__ import annotations

import libcst as cst


def _target_names(target: cst.BaseExpression, out: set[str]) -> None:
    if isinstance(target, cst.Name):
        out.add(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            _target_names(el.value, out)
    elif isinstance(target, cst.StarredElement):
        _target_names(target.value, out)


def _scan(stmts, out: set[str], declared_global: set[str]) -> None:
    for stmt in stmts:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for t in small.targets:
                        _target_names(t.target, out)
                elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
                    _target_names(small.target, out)
                # imports are not locals: the pre-pass resolves them through the import table,
                # wherever they stand (`def main(): import torch.nn as nn`)
                elif isinstance(small, (cst.Global, cst.Nonlocal)):
                    for n in small.names:
                        declared_global.add(n.name.value)
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.add(stmt.name.value)
        elif isinstance(stmt, cst.For):
            _target_names(stmt.target, out)
            _scan(stmt.body.body, out, declared_global)
            if stmt.orelse:
                _scan(stmt.orelse.body.body, out, declared_global)
        elif isinstance(stmt, cst.While):
            _scan(stmt.body.body, out, declared_global)
        elif isinstance(stmt, cst.If):
            _scan(stmt.body.body, out, declared_global)
            orelse = stmt.orelse
            while orelse is not None:
                if isinstance(orelse, cst.If):
                    _scan(orelse.body.body, out, declared_global)
                    orelse = orelse.orelse
                else:
                    _scan(orelse.body.body, out, declared_global)
                    orelse = None
        elif isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    _target_names(item.asname.name, out)
            _scan(stmt.body.body, out, declared_global)
        elif isinstance(stmt, (cst.Try, getattr(cst, "TryStar", cst.Try))):
            _scan(stmt.body.body, out, declared_global)
            for h in stmt.handlers:
                if h.name is not None:
                    _target_names(h.name.name, out)
                _scan(h.body.body, out, declared_global)
            if stmt.orelse:
                _scan(stmt.orelse.body.body, out, declared_global)
            if stmt.finalbody:
                _scan(stmt.finalbody.body.body, out, declared_global)
        elif hasattr(cst, "Match") and isinstance(stmt, cst.Match):
            for case in stmt.cases:
                _scan(case.body.body, out, declared_global)


def local_names(func: cst.FunctionDef) -> set[str]:
    """Parameters and names assigned anywhere in the body (not in nested defs)."""
    out: set[str] = set()
    params = func.params
    for p in (*params.posonly_params, *params.params, *params.kwonly_params):
        out.add(p.name.value)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            out.add(star.name.value)
    declared: set[str] = set()
    body = func.body.body if isinstance(func.body, cst.IndentedBlock) else []
    _scan(body, out, declared)
    return out - declared

