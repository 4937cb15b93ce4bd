"""define.xml conformance rules: datasets, variables and codelist values against the define.  Registered with `@rule`
(validation/rulebook.py) when imported by the catalogue (validation/rules.py)."""

from __future__ import annotations

import pandas as pd

from cdiscflow.validation.columns import isin
from cdiscflow.validation.metadata import visible
from cdiscflow.validation.rulebook import RuleContext, Scope, rule


# ----------------------------------------------------------------------------------------------------------------
# define.xml


@rule("CF-DEF-001", "error", "the dataset is not described in define.xml", requires=("define.xml",),
      scope=Scope("every dataset", lambda ctx: sorted(ctx.datasets)), standard="define.xml",
      references="Define-XML 2.1 (every submitted dataset has an ItemGroupDef)")
def datasets_in_define(ctx: RuleContext, targets: list[str]):
    for name in targets:
        if name not in ctx.define.datasets:
            yield ctx.finding(name, value=name, expected="an ItemGroupDef in define.xml")


@rule("CF-DEF-002", "error", "the variable is not declared in define.xml", requires=("define.xml",),
      scope=Scope("datasets described in define.xml", lambda ctx: [n for n in sorted(ctx.datasets)
                                                                  if n in ctx.define.datasets]),
      standard="define.xml", references="Define-XML 2.1 (ItemRef/ItemDef for every variable)")
def variables_in_define(ctx: RuleContext, targets: list[str]):
    for name in targets:
        declared = ctx.define.datasets[name].variables
        for col in ctx[name].columns:
            if col not in declared:
                yield ctx.finding(name, col, value=col, expected=f"an ItemDef of {name}")


@rule("CF-DEF-003", "warning", "define.xml declares a variable the dataset does not have", requires=("define.xml",),
      scope=Scope("datasets described in define.xml", lambda ctx: [n for n in sorted(ctx.datasets)
                                                                  if n in ctx.define.datasets]),
      standard="define.xml", references="Define-XML 2.1 (metadata describe the submitted data)")
def define_variables_present(ctx: RuleContext, targets: list[str]):
    for name in targets:
        columns = set(ctx[name].columns)
        for var in ctx.define.datasets[name].variables:
            if var not in columns:
                yield ctx.finding(name, var, value="", expected=var)


@rule("CF-DEF-004", "error", "the value is not in the variable's define.xml codelist", requires=("define.xml",),
      scope=Scope("datasets described in define.xml", lambda ctx: [n for n in sorted(ctx.datasets)
                                                                  if n in ctx.define.datasets]),
      standard="define.xml", references="Define-XML 2.1 CodeList (CodeListItem/EnumeratedItem)")
def values_in_define_codelist(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        for var, oid in ctx.define.datasets[name].variables.items():
            cl = ctx.define.codelists.get(oid) if oid else None
            if cl is None or cl.values is None or var not in df.columns:
                continue
            s = df[var]
            if cl.datatype in ("integer", "float") or pd.api.types.is_numeric_dtype(s.dtype):
                allowed = pd.to_numeric(pd.Series(sorted(cl.values)), errors="coerce").dropna()
                bad = s.notna() & ~pd.to_numeric(s, errors="coerce").isin(allowed)
            else:
                bad = s.notna() & ~isin(s, cl.values)
            shown = sorted(visible(v) for v in cl.values)
            yield ctx.hits(name, bad, var, value=s,
                           expected=" | ".join(shown) if len(shown) <= 12 else f"one of {len(shown)} values of {oid}",
                           message=f"{name}: {var} is not a value of define.xml codelist {oid} ({cl.name})")
