"""A spec that passed check-spec is remembered by a fingerprint of everything the verdict depends on (issue 18: the
check at the start of every command is done once per spec and code): the same spec is then only loaded; any change
to the spec, a problem, or the record switched off means a full check, as before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdiscflow.core.errors import SpecError
from cdiscflow.specs import check
from cdiscflow.usecases import require_valid_spec, spec_layer_problems


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CDISCFLOW_SPEC_CACHE", str(folder))
    return folder


@pytest.fixture
def full_checks(monkeypatch) -> list[Path]:
    """Every full check that runs (the spec folder it checked)."""
    ran = []
    real = check._Check.run

    def counting(self):
        ran.append(self.path)
        return real(self)

    monkeypatch.setattr(check._Check, "run", counting)
    return ran


def test_a_passed_spec_is_checked_once_and_then_only_loaded(study_copy, cache, full_checks):
    first = require_valid_spec(study_copy)
    again = require_valid_spec(study_copy)
    assert full_checks == [study_copy]
    assert [p.name for p in cache.iterdir()] == [check.passed_key(study_copy, spec_layer_problems)]
    assert again.studyid == first.studyid == "DARA-ATRA"
    assert list(again.datasets) == list(first.datasets) and again.codelists.keys() == first.codelists.keys()
    assert again.datasets["ADSL"].variables == first.datasets["ADSL"].variables


def test_a_changed_spec_is_checked_again_and_its_problem_found(study_copy, cache, full_checks):
    require_valid_spec(study_copy)
    adsl = study_copy / "adam" / "adsl.yaml"
    text = adsl.read_text()
    stamp = os.stat(adsl)
    adsl.write_text(text.replace("merges:", "mergez:", 1))
    os.utime(adsl, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same time stamp: the content decides
    with pytest.raises(SpecError, match="mergez"):
        require_valid_spec(study_copy)
    with pytest.raises(SpecError, match="mergez"):  # a problem is never remembered
        require_valid_spec(study_copy)
    assert full_checks == [study_copy] * 3
    adsl.write_text(text)  # back as it was: the record of the pass applies again
    require_valid_spec(study_copy)
    assert len(full_checks) == 3


def test_a_new_file_in_the_spec_folder_is_checked(study_copy, cache, full_checks):
    require_valid_spec(study_copy)
    (study_copy / "reprot.yaml").write_text("sections: []\n")
    with pytest.raises(SpecError, match="reprot.yaml: not a spec file"):
        require_valid_spec(study_copy)
    assert len(full_checks) == 2


def test_changed_code_is_another_fingerprint(study_copy, cache, monkeypatch):
    key = check.passed_key(study_copy, spec_layer_problems)
    assert key == check.passed_key(study_copy, spec_layer_problems)
    assert check.passed_key(study_copy, None) != key  # without the layers' checks it is another verdict
    module = Path(check.__file__)
    stamp = os.stat(module)
    real_stat = os.stat

    def touched(path, *args, **kwargs):
        st = real_stat(path, *args, **kwargs)
        if Path(path) == module:
            return os.stat_result((*st[:8], st.st_mtime + 1, st.st_ctime))  # as if check.py had been edited
        return st

    monkeypatch.setattr(os, "stat", touched)
    assert os.stat(module).st_mtime != stamp.st_mtime
    assert check.passed_key(study_copy, spec_layer_problems) != key


def test_switched_off_every_spec_is_checked(study_copy, monkeypatch, full_checks, tmp_path):
    monkeypatch.setenv("CDISCFLOW_SPEC_CACHE", "off")
    assert check.spec_cache_dir() is None and check.passed_key(study_copy) is None
    require_valid_spec(study_copy)
    require_valid_spec(study_copy)
    assert len(full_checks) == 2


def test_an_unwritable_cache_is_no_error(study_copy, tmp_path, monkeypatch, full_checks):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CDISCFLOW_SPEC_CACHE", str(blocker / "spec-checks"))
    assert require_valid_spec(study_copy).studyid == "DARA-ATRA"
    assert require_valid_spec(study_copy).studyid == "DARA-ATRA"
    assert len(full_checks) == 2  # nothing recorded: checked each time


def test_the_default_cache_is_in_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CDISCFLOW_SPEC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert check.spec_cache_dir() == tmp_path / "xdg" / "cdiscflow" / "spec-checks"
