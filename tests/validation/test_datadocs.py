"""great-expectations Data Docs: generated from the spec, offline, deterministic, no stray folders."""

from __future__ import annotations

import os
import re
import tempfile

import pytest

from cdiscflow.validation import validate_datasets, write_data_docs

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end


@pytest.fixture(scope="module")
def docs(tmp_path_factory, make_clean, spec):
    """Data Docs of the VALTEST datasets with one planted codelist error, written twice (to compare bytes)."""
    base = tmp_path_factory.mktemp("docs")
    tmp = base / "tmp"
    tmp.mkdir()
    old_cwd, old_tmp = os.getcwd(), tempfile.tempdir
    os.chdir(base)
    tempfile.tempdir = str(tmp)  # anything GE writes to a temporary folder would land here
    try:
        runs = []
        for out in ("a", "b"):
            data = make_clean()
            data["AE"].loc[2, "AESEV"] = "mild"
            findings = validate_datasets(data, spec)
            runs.append(write_data_docs(data, spec, base / out, findings=findings))
    finally:
        os.chdir(old_cwd)
        tempfile.tempdir = old_tmp
    return base, runs


def _pages(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*.html"))


@pytest.mark.slow
def test_pages_for_every_dataset(docs):
    base, (index, _) = docs
    assert index == base / "a" / "index.html"
    pages = [str(p) for p in _pages(base / "a")]
    assert "validations/AE.html" in pages and "expectations/ADTTE.html" in pages and len(pages) == 21
    text = index.read_text()
    assert "SYNTHETIC DATA" in text and "Study VALTEST" in text and "SCH-CT-001" in text


def test_failed_expectation_is_shown_with_its_cdiscflow_check(docs):
    base, _ = docs
    ae = (base / "a" / "validations" / "AE.html").read_text()
    assert "mild" in ae and "SCH-CT-001" in ae and "1 failed" in (base / "a" / "index.html").read_text()
    suite = (base / "a" / "expectations" / "AE.html").read_text()
    assert "study spec VALTEST" in suite and "AESEV: C66769" in suite
    assert re.search(r'href="\.\./expectations/AE\.html"', ae)
    assert 'href="../index.html"' in ae


def test_pages_read_offline(docs):
    base, _ = docs
    for page in (base / "a").rglob("*.html"):
        text = page.read_text()
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text), page
        assert "url(http" not in text, page
        assert not re.search(r"unpkg|jsdelivr|cdnjs|bootstrapcdn|code\.jquery|amazonaws", text), page


def test_same_input_same_bytes(docs):
    base, _ = docs
    pages = _pages(base / "a")
    assert pages == _pages(base / "b")
    for p in pages:
        assert (base / "a" / p).read_bytes() == (base / "b" / p).read_bytes(), p


def test_no_stray_folders(docs):
    base, _ = docs
    assert sorted(p.name for p in base.iterdir()) == ["a", "b", "tmp"]
    assert list((base / "tmp").iterdir()) == []


def test_large_datasets_are_sampled_and_say_so(tmp_path, clean, spec):
    index = write_data_docs({"AE": clean["AE"]}, spec, tmp_path / "dd", max_rows=2)
    ae = (tmp_path / "dd" / "validations" / "AE.html").read_text()
    assert "deterministic random sample of 2 of 3 records" in ae
    assert "2 (sample)" in index.read_text()


def test_pages_from_samples_are_the_pages_from_the_datasets(tmp_path, make_clean, spec):
    """What the run's Data Docs worker is sent (each dataset's sample, its row count and its plan) gives the same
    bytes as the datasets themselves, with a sampled dataset and a failed expectation among them."""
    from cdiscflow.validation import data_docs_sample, write_data_docs_from_samples
    from cdiscflow.validation.plans import dataset_plans

    data = make_clean()
    data["AE"].loc[2, "AESEV"] = "mild"
    findings = validate_datasets(data, spec)
    write_data_docs(data, spec, tmp_path / "whole", findings=findings, max_rows=2)
    samples = {name: data_docs_sample(frame, 2) for name, frame in data.items()}
    assert len(samples["AE"]) == 2 < len(data["AE"])
    plans, _ = dataset_plans(data, spec)
    write_data_docs_from_samples(samples, {n: len(f) for n, f in data.items()}, spec, tmp_path / "samples",
                                 findings=findings, plans=plans, max_rows=2)
    pages = _pages(tmp_path / "whole")
    assert pages == _pages(tmp_path / "samples") and len(pages) == 21
    for p in pages:
        assert (tmp_path / "whole" / p).read_bytes() == (tmp_path / "samples" / p).read_bytes(), p
    assert "2 (sample)" in (tmp_path / "samples" / "index.html").read_text()


def test_a_sample_that_does_not_fit_its_row_count_is_refused(tmp_path, clean, spec):
    from cdiscflow.validation import write_data_docs_from_samples

    with pytest.raises(ValueError, match="the sample of AE has 3 records; a dataset of 10 records gives 2"):
        write_data_docs_from_samples({"AE": clean["AE"]}, {"AE": 10}, spec, tmp_path / "dd", max_rows=2)



def test_each_thread_counts_its_own_page_element_ids():
    # one page view serves the process; `batch --scheduler` validates exports in threads: a page's element ids
    # (cdiscflow-1, -2, ...) must count per page in each thread, not run on from another thread's page
    import itertools
    import threading

    from cdiscflow.validation.datadocs import _great_expectations

    _, view = _great_expectations()
    view._page.ids = itertools.count(1)  # what render_suite/render_validation do at the start of a page
    assert view.generate_html_element_uuid("a-") == "a-cdiscflow-1"
    seen = []

    def other_page():
        view._page.ids = itertools.count(1)
        seen.extend(view.generate_html_element_uuid("b-") for _ in range(3))

    thread = threading.Thread(target=other_page)
    thread.start()
    thread.join()
    assert seen == ["b-cdiscflow-1", "b-cdiscflow-2", "b-cdiscflow-3"]
    assert view.generate_html_element_uuid("a-") == "a-cdiscflow-2"
