"""Checks on the mapped SDTM values, each an error on the raw rows concerned: end before start (date order),
impossible or implausible dates (before raw.earliest_date, after death), and values an XPT file cannot store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from cdiscflow.core.frames import as_text, is_text_category, text_per_distinct
from cdiscflow.core.sasformats import format_kind
from cdiscflow.core.text import arrow, lookup
from cdiscflow.core.xpt_limits import MAX_IBM, MAX_VALUE_BYTES, byte_lengths
from cdiscflow.sdtm.mapping.record_errors import trace_to_raw_rows
from cdiscflow.sdtm.mapping.state import StudyState


def check_date_order(state: StudyState) -> pd.DataFrame | None:
    """--ENDTC before --STDTC (compared at the precision both have: minute, day, month or year) is an error on
    the raw row."""
    errors = []
    for name, frame in state.datasets.items():
        for st in [c for c in frame.columns if c.endswith("STDTC")]:  # over date pairs
            en = st[:-5] + "ENDTC"
            if en not in frame:
                continue
            # once per distinct pair of start and end (dates repeat)
            before = pd.Series(per_pair(frame[st], frame[en], _ends_before), index=frame.index)
            if before.any():
                s, e = as_text(frame[st])[before].astype(str), as_text(frame[en])[before].astype(str)
                p = pd.DataFrame({"rule_id": "MAP-DATE-ORDER", "value": e,
                                  "message": f"{en} is before {st} " + s,
                                  "expected": f"on or after {st}"}, index=before[before].index)
                errors.append(trace_to_raw_rows(state, name, p, en))
    return pd.concat(errors, ignore_index=True) if errors else None


def _ends_before(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """True per pair of start and end where the end is before the start at a precision both have (minute, day,
    month or year)."""
    s, e = np.asarray(starts, dtype="U16"), np.asarray(ends, dtype="U16")  # 16: the longest precision compared
    known = np.minimum(np.char.str_len(s), np.char.str_len(e))
    out = np.zeros(len(s), dtype=bool)
    for w in (16, 10, 7, 4):  # over the precisions: the pairs both known to it, cut to it and compared as text
        at = known >= w
        if at.any():
            out[at] |= e[at].astype(f"U{w}") < s[at].astype(f"U{w}")
    return out


EARLIEST_DATE = "1900-01-01"  # default of study.yaml raw.earliest_date: no clinical date is older
_KNOWN_PREFIX = r"^(\d{4}(?:-\d{2}(?:-\d{2})?)?)"  # the leading known parts of an ISO 8601 date


def _known_date(values: pd.Series) -> pd.Series:
    """The date's leading known parts as written (YYYY, YYYY-MM or YYYY-MM-DD); missing when the year is unknown.
    Evaluated once per distinct date (a compacted column: per category)."""
    return text_per_distinct(values, _known_prefix)


def _known_coded(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """`_known_date` as codes and the known date of each code ("" for missing or unknown): see `_codes`."""
    codes, uniques = _codes(values)
    known = _known_prefix(pd.Series(uniques[1:], dtype=str)).fillna("")
    return codes, np.concatenate([[""], known.to_numpy(dtype=object)])


def _known_prefix(texts: pd.Series) -> pd.Series:
    """`_KNOWN_PREFIX` of each text, missing where it does not match: by Arrow (RE2) when the texts are ASCII, where
    it reads the pattern as Python's re does; by pandas (Python's re, whose \\d also takes other scripts' digits)
    otherwise."""
    arr = arrow(texts)
    if len(texts) and pc.all(pc.string_is_ascii(arr)).as_py():
        found = pc.struct_field(pc.extract_regex(arr, _KNOWN_PREFIX.replace("^(", "^(?P<known>", 1)), "known")
        return pd.Series(found, index=texts.index, dtype=str)
    return texts.str.extract(_KNOWN_PREFIX, expand=False).astype(str)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Codes (0 = missing, 1.. = the distinct values) and the distinct values as text ("" first, for missing); a
    pair (codes, values) so made is returned as it is."""
    if isinstance(values, tuple):
        return values
    if is_text_category(values):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64) + 1, np.concatenate([[""], np.asarray(uniques, dtype=object)])


def _compare_known(a, b) -> np.ndarray:
    """-1/0/1 where date a is before / the same as far as both are known / after b (0 when either is missing), per
    record in numpy (a finding frame is made only where a limit is crossed)."""
    # once per distinct pair of values (dates repeat; string slices per record cost ms per call, per date variable)
    return per_pair(a, b, _compare_pairs)


def per_pair(a: pd.Series, b: pd.Series | str, fn) -> np.ndarray:
    """`fn` over the distinct pairs of values of two text columns (or a column and one text), its answers taken
    back to every record: fn(a, b) gets two object arrays of text, one item per distinct pair (missing is "")."""
    ca, ua = _codes(a)
    if isinstance(b, str):
        cb, ub = np.zeros(len(ca), dtype=np.int64), np.array([b], dtype=object)
    else:
        cb, ub = _codes(b)
    key, size = ca * len(ub) + cb, len(ua) * len(ub)
    if size <= 2 * len(key) + 4096:  # the pairs that occur, by a table over all possible pairs (no sort)
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        distinct = np.flatnonzero(seen)
        position = np.zeros(size, dtype=np.int64)
        position[distinct] = np.arange(len(distinct))
        inverse = position[key]
    else:
        distinct, inverse = np.unique(key, return_inverse=True)
    return np.asarray(fn(ua[distinct // len(ub)], ub[distinct % len(ub)]))[inverse.reshape(-1)]


def _compare_pairs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """-1/0/1 per pair of known dates a, b: a against b on the shorter's precision, 0 when that is not a day, month
    or year (or either is missing).  In numpy, a precision at a time: the pairs of that shorter length cut to it
    (a fixed-width text array of that width) and compared as text (known dates are digits and hyphens)."""
    a, b = np.asarray(first, dtype=str), np.asarray(second, dtype=str)
    width = np.minimum(np.char.str_len(a), np.char.str_len(b))
    out = np.zeros(len(a), dtype="int64")
    for w in (10, 7, 4):  # over the precisions: day, month, year
        at = width == w
        if at.any():
            x, y = a[at].astype(f"U{w}"), b[at].astype(f"U{w}")
            out[at] = (x > y).astype("int64") - (x < y)
    return out


# Records that report the death itself may be dated after it (SDTMIG 3.4: survival status ascertained at a later
# contact, the death disposition event): dataset -> (variable, value)
REPORTS_DEATH = {"SS": ("SSSTRESC", "DEAD"), "DS": ("DSDECOD", "DEATH")}


def death_dates(state: StudyState) -> pd.Series:
    """USUBJID -> date of death (leading known parts): DM.DTHDTC where mapped from raw, else the earliest DSSTDTC of
    a DS record with DSDECOD = DEATH (SDTMIG 3.4: death is a disposition event)."""
    found = []
    dm, ds = state.datasets.get("DM"), state.datasets.get("DS")
    if dm is not None and {"USUBJID", "DTHDTC"} <= set(dm.columns):
        found.append(pd.DataFrame({"USUBJID": as_text(dm["USUBJID"]), "date": _known_date(dm["DTHDTC"])}))
    if ds is not None and {"USUBJID", "DSDECOD", "DSSTDTC"} <= set(ds.columns):
        dead = as_text(ds["DSDECOD"]) == "DEATH"
        found.append(pd.DataFrame({"USUBJID": as_text(ds["USUBJID"])[dead], "date": _known_date(ds["DSSTDTC"])[dead]}))
    if not found:
        return pd.Series(dtype=object)
    dates = pd.concat(found).dropna()
    return dates.sort_values("date", kind="stable").drop_duplicates("USUBJID").set_index("USUBJID")["date"]


def check_plausible_dates(state: StudyState) -> pd.DataFrame | None:
    """Dates no record can have are errors on the raw row (issue 16): before study.yaml `raw.earliest_date`
    (default 1900-01-01; year 0000 would give a study day of -736,261) -> MAP-DATE-FLOOR; after the data cut ->
    MAP-DATE-CUT; after the subject's death -> MAP-DATE-DEATH (except records reporting the death, REPORTS_DEATH,
    and the collection date --DTC of events and interventions: they may be reported later).  Dates compare as far
    as both are known."""
    spec = state.spec
    floor = str(spec.study.get("raw", {}).get("earliest_date") or EARLIEST_DATE)
    cut = spec.datacut.isoformat() if "datacut" in spec.study else None
    death = death_dates(state)
    errors = []
    for name, frame in state.datasets.items():
        died = died_coded = None
        if "USUBJID" in frame and len(death):  # per subject, not per record
            died = text_per_distinct(frame["USUBJID"], lambda u: lookup(u, death).astype(str))  # (not pandas' map)
            died_coded = _codes(died)
        for var in [c for c in frame.columns if c.endswith("DTC")]:  # over date variables
            known = _known_coded(frame[var])  # codes: every comparison below is per distinct pair of values
            if not (known[1] != "")[known[0]].any():
                continue
            checks = [("MAP-DATE-FLOOR", _compare_known(known, floor) < 0, f"on or after {floor}",
                       f"{var} is before {floor}, the earliest plausible date (study.yaml raw.earliest_date)")]
            if cut:
                checks.append(("MAP-DATE-CUT", _compare_known(known, cut) > 0, f"on or before {cut}",
                               f"{var} is after the data cut {cut}"))
            collected = var == f"{name}DTC" and state.spec.dataset(name).cls in ("EVENTS", "INTERVENTIONS")
            if died is not None and var != "DTHDTC" and not collected:  # an event can be reported after death
                reports = REPORTS_DEATH.get(name)
                living = True
                if reports and reports[0] in frame:  # the records that report the death are not after it
                    living = (as_text(frame[reports[0]]) != reports[1]).to_numpy()
                checks.append(("MAP-DATE-DEATH", living & (_compare_known(known, died_coded) > 0),
                               "on or before the date of death", f"{var} is after the subject's death on "))
            for rule_id, bad, expected, message in checks:  # over the three limits
                if bad.any():
                    msg = message + died[bad].fillna("").astype(str) if rule_id == "MAP-DATE-DEATH" else message
                    p = pd.DataFrame({"rule_id": rule_id, "value": as_text(frame[var])[bad], "message": msg,
                                      "expected": expected}, index=frame.index[bad])
                    errors.append(trace_to_raw_rows(state, name, p, var))
    return pd.concat(errors, ignore_index=True) if errors else None


def check_storable(state: StudyState) -> pd.DataFrame | None:
    """Mapped values a submission file cannot hold are errors on their raw rows, found before anything is written:
    text longer than the variable's spec length or the 200 bytes of XPT v5 (SUPP-- values: 200) -> MAP-LENGTH;
    numbers beyond the range of SAS transport floating point, or not whole in an integer variable -> MAP-NUMBER."""
    errors = []
    for name, frame in state.datasets.items():
        variables = [v for v in state.spec.dataset(name).variables if v.name in frame]
        supp = state.supp.get(name)
        for var, col, v in [(v.name, frame[v.name], v) for v in variables] + \
                [(q, supp[q], None) for q in (supp.columns if supp is not None else ())]:  # over variables
            if v is not None and v.is_numeric:
                p = _unstorable_numbers(name, var, col, v.datatype == "integer" and not format_kind(v.display_format))
            else:
                p = _unstorable_text(name, var, col, min(v.length or MAX_VALUE_BYTES, MAX_VALUE_BYTES) if v else
                                     MAX_VALUE_BYTES)
            if p is not None:
                errors.append(trace_to_raw_rows(state, name, p, var))
    return pd.concat(errors, ignore_index=True) if errors else None


def _unstorable_text(dataset: str, var: str, col: pd.Series, limit: int) -> pd.DataFrame | None:
    if (is_text_category(col) or col.dtype == "str") and _most_bytes(col) <= limit:
        return None  # every value fits (a compacted column: every category)
    nbytes = pd.Series(byte_lengths(col), index=col.index)
    bad = nbytes > limit
    if not bad.any():
        return None
    what = "the spec length" if limit < MAX_VALUE_BYTES else "the XPT v5 limit"
    return pd.DataFrame({"rule_id": "MAP-LENGTH", "value": col[bad].astype(str).str.slice(0, 60),
                         "message": f"{dataset}.{var} is " + nbytes[bad].astype(str) + f" bytes long, over {what} "
                                    f"of {limit}", "expected": f"at most {limit} bytes"}, index=bad[bad].index)


def _most_bytes(col: pd.Series) -> int:
    """The UTF-8 byte length of the longest value of a text column (of its categories when compacted), 0 when there
    is none: one Arrow reduction."""
    text = col.cat.categories if is_text_category(col) else col  # (arrow reads an Index as it reads a Series)
    return int(pc.max(pc.binary_length(arrow(text))).as_py() or 0)


def _unstorable_numbers(dataset: str, var: str, col: pd.Series, whole: bool) -> pd.DataFrame | None:
    values = col.to_numpy(dtype="float64", na_value=np.nan) if col.dtype == "float64" else None
    if values is not None:  # the usual case, in numpy: nothing to report?
        with np.errstate(invalid="ignore"):
            huge = np.abs(values) >= MAX_IBM
            if not (huge.any() or (whole and (values != np.round(values))[~np.isnan(values)].any())):
                return None
    x = pd.to_numeric(col, errors="coerce").astype("float64")
    huge = (x.abs() >= MAX_IBM).fillna(False)  # inf included
    part = (x.notna() & (x != np.round(x)) & ~huge) if whole else huge & False
    bad = huge | part
    if not bad.any():
        return None
    message = np.where(part[bad], f"{dataset}.{var} is not a whole number; its type in the spec is integer",
                       f"{dataset}.{var} is too large for a SAS transport file")
    return pd.DataFrame({"rule_id": "MAP-NUMBER", "value": col[bad].astype(str), "message": message,
                         "expected": f"a {'whole ' if whole else ''}number of magnitude below {MAX_IBM:.4g}"},
                        index=bad[bad].index)
