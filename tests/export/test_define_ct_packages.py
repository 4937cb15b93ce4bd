"""The codelists of each CDISC CT package in the standards copy (define.xml names the package of each codelist):
read by Arrow, the same set as the csv module reads."""

import csv
import gzip

import pytest

from cdiscflow.export import define
from cdiscflow.specs.model import STANDARDS_DIR

PACKAGES = sorted(STANDARDS_DIR.glob("ct-*.csv*"))


@pytest.mark.parametrize("path", PACKAGES, ids=[p.name for p in PACKAGES])
def test_codelists_of_a_package_are_those_the_csv_module_reads(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        expected = frozenset(r["Code"] for r in csv.DictReader(fh) if not r["Codelist Code"])
    key, version = path.name.split(".")[0][3:].rsplit("-", 3)[0], "-".join(path.name.split(".")[0].rsplit("-", 3)[1:])
    define._ct_codelists.cache_clear()
    got = define._ct_codelists(key, version)
    assert got == expected and len(got) > 10


def test_a_missing_package_has_no_codelists():
    assert define._ct_codelists("SDTM", "1900-01-01") == frozenset()
