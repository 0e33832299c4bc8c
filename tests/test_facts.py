"""The facts file: validated with errors that name file, line and field; reloaded when it changes."""
import logging
import os
import shutil
from pathlib import Path

import pytest

from actions.facts import FactsError, FactsStore, parse
from tests.conftest import ROOT

FACTS = ROOT / "data" / "facts.yml"
PAGE = ROOT.parent / "shared" / "seeds" / "000_c15e2c060d1e4d4a.txt"


@pytest.fixture
def facts_file(tmp_path: Path) -> Path:
    path = tmp_path / "facts.yml"
    shutil.copy(FACTS, path)
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    st = path.stat()  # make the change visible even within the file system's mtime resolution
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def _leaves(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    else:
        yield str(node)


def test_every_shipped_fact_is_on_the_page() -> None:
    if not PAGE.exists():
        pytest.skip(f"the source page is not beside the project ({PAGE})")
    page = " ".join(PAGE.read_text().split())
    facts = parse(FACTS)
    assert facts["contact"]["phone"] == "+48 85 686 51 76"
    del facts["version"]  # the file format's, not a fact
    missing = [value for value in _leaves(facts) if value not in page]
    assert not missing, f"facts not found word for word on the page: {missing}"


def test_yaml_error_names_file_and_line(facts_file: Path) -> None:
    edit(facts_file, '  fax: "+48 85 748 54 16"', '  fax: "+48 85 748 54 16')
    with pytest.raises(FactsError, match=rf"{facts_file}: line \d+: not valid YAML"):
        parse(facts_file)


def test_schema_error_names_line_and_field(facts_file: Path) -> None:
    edit(facts_file, "  email: international@umb.edu.pl", "  email: international at umb")
    with pytest.raises(FactsError) as e:
        parse(facts_file)
    assert f"{facts_file}: line {line_of(facts_file, 'email:')}: field 'contact.email'" in str(e.value)


def test_missing_field_is_named(facts_file: Path) -> None:
    edit(facts_file, '  phone: "+48 85 686 51 76"\n', "")
    with pytest.raises(FactsError, match=r"field 'contact': 'phone' is a required property"):
        parse(facts_file)


def test_unknown_field_is_named(facts_file: Path) -> None:
    edit(facts_file, "  email: international@umb.edu.pl", "  email: international@umb.edu.pl\n  emial: x@umb.edu.pl")
    with pytest.raises(FactsError, match=r"field 'contact'.*'emial' was unexpected"):
        parse(facts_file)


def test_changed_file_is_reloaded(facts_file: Path, tmp_path: Path) -> None:
    store = FactsStore(facts_file, last_good=tmp_path / "last-good.yml")
    assert store.get()["contact"]["phone"] == "+48 85 686 51 76"
    edit(facts_file, "+48 85 686 51 76", "+48 85 111 11 11")
    assert store.get()["contact"]["phone"] == "+48 85 111 11 11"


def test_broken_file_keeps_last_good_facts_and_logs(facts_file: Path, tmp_path: Path, caplog) -> None:
    store = FactsStore(facts_file, last_good=tmp_path / "last-good.yml")
    store.get()
    edit(facts_file, "  per_year: over 10", "  per_year: [over 10")
    with caplog.at_level(logging.ERROR):
        assert store.get()["visiting_professors"]["per_year"] == "over 10"
    assert f"Facts file rejected, keeping the last good facts. {facts_file}: line" in caplog.text
    edit(facts_file, "  per_year: [over 10", "  per_year: over 12")
    assert store.get()["visiting_professors"]["per_year"] == "over 12"


def test_restart_with_broken_file_uses_last_good_copy(facts_file: Path, tmp_path: Path) -> None:
    last_good = tmp_path / "last-good.yml"
    FactsStore(facts_file, last_good=last_good).get()
    edit(facts_file, "version: 1", "version: 2")
    assert FactsStore(facts_file, last_good=last_good).get()["contact"]["fax"] == "+48 85 748 54 16"


def test_no_good_facts_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match="no last good copy"):
        FactsStore(tmp_path / "missing.yml", last_good=tmp_path / "none.yml").get()
