"""The facts file: validated with errors that name file, line and field; reloaded when it changes;
every fact that still comes from the source page is on it word for word."""
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

from actions.facts import FactsError, FactsStore, parse
from tests.conftest import FACTS_FILE, ROOT, Facts, record_change

# The university's International Cooperation page, the facts' source. In CI it must be there
# (.ci/run sets UMB_SOURCE_PAGE); elsewhere the check is skipped, saying so, when it is not.
DEFAULT_PAGE = ROOT.parent / "shared" / "seeds" / "000_c15e2c060d1e4d4a.txt"


@pytest.fixture
def facts_file(tmp_path: Path) -> Path:
    path = tmp_path / "facts.yml"
    shutil.copy(FACTS_FILE, path)
    return path


@pytest.fixture
def page() -> str:
    """The source page's text, white space folded."""
    required = "UMB_SOURCE_PAGE" in os.environ
    path = Path(os.environ.get("UMB_SOURCE_PAGE") or DEFAULT_PAGE)
    if not path.exists():
        if required:
            pytest.fail(f"UMB_SOURCE_PAGE names {path}, which does not exist: the facts cannot be checked against their source")
        pytest.skip(f"the source page is not at {path} (set UMB_SOURCE_PAGE to check the facts against it)")
    return " ".join(path.read_text().split())


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    st = path.stat()  # make the change visible even within the file system's mtime resolution
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def _leaves(node: Any, path: str = "") -> Iterator[Tuple[str, str]]:
    """(field path, value) of every fact: contact.phone, visiting_professors.funders, ..."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value, path)
    else:
        yield path, str(node)


def not_on_page(facts: dict, page: str) -> List[str]:
    """The facts that come from the page (not changed by staff) but are not on it word for word."""
    # the file's own bookkeeping is not a fact; the Polish forms (`_pl`) are translations of the page
    skipped = ["version", "source.changed_by_staff", *(c["field"] for c in facts["source"].get("changed_by_staff", []))]
    return [
        f"{field}: {value}" for field, value in _leaves(facts)
        if not any(field == s or field.startswith(s + ".") for s in skipped) and not field.endswith("_pl") and value not in page
    ]


def test_every_fact_from_the_page_is_on_it(page: str) -> None:
    missing = not_on_page(parse(FACTS_FILE), page)
    assert not missing, (
        f"facts not found word for word on the source page: {missing}. A fact the office's staff changed "
        "must be recorded under source.changed_by_staff in data/facts.yml (docs/STAFF.md, worked example 1)."
    )


def test_a_fact_changed_by_staff_is_checked_only_once_recorded(facts_file: Path, facts: Facts) -> None:
    page = " ".join(value for _, value in _leaves(parse(FACTS_FILE)))  # a page with every shipped fact
    new = {"phone": "+48 85 686 51 99", "fax": "+48 85 686 51 98", "email": "new@umb.edu.pl"}
    recorded = {c["field"] for c in facts.source.changed_by_staff}
    changed, other = [name for name in new if f"contact.{name}" not in recorded][:2]  # two still from the page
    edit(facts_file, getattr(facts.contact, changed), new[changed])
    assert not_on_page(parse(facts_file), page) == [f"contact.{changed}: {new[changed]}"]
    line = record_change(facts_file, f"contact.{changed}")
    assert line_of(facts_file, f"    - field: contact.{changed}") == line
    assert parse(facts_file)["source"]["changed_by_staff"][-1] == {
        "field": f"contact.{changed}", "by": "International Cooperation Office", "on": "2026-12-01"
    }
    assert not_on_page(parse(facts_file), page) == []
    # the other one still comes from the page, so a wrong value of it is still found
    edit(facts_file, getattr(facts.contact, other), new[other])
    assert not_on_page(parse(facts_file), page) == [f"contact.{other}: {new[other]}"]


def test_a_change_record_must_name_a_fact(facts_file: Path, facts: Facts) -> None:
    line = record_change(facts_file, "contact.telephone")
    with pytest.raises(FactsError) as e:
        parse(facts_file)
    index = len(facts.source.changed_by_staff)
    assert (e.value.line, e.value.field, e.value.kind) == (line, f"source.changed_by_staff.{index}.field", "not_a_fact")
    assert e.value.problem == "'contact.telephone' is not a fact in this file"


def test_yaml_error_names_file_and_line(facts_file: Path, facts: Facts) -> None:
    edit(facts_file, f'  fax: "{facts.contact.fax}"', f'  fax: "{facts.contact.fax}')
    with pytest.raises(FactsError, match=rf"{facts_file}: line \d+: not valid YAML") as e:
        parse(facts_file)
    assert (e.value.path, e.value.field, e.value.kind) == (facts_file, None, "yaml")
    assert e.value.line > line_of(facts_file, "  fax:")  # the reader notices where the string should have ended


def test_schema_error_names_line_and_field(facts_file: Path, facts: Facts) -> None:
    edit(facts_file, f"  email: {facts.contact.email}", "  email: international at umb")
    with pytest.raises(FactsError) as e:
        parse(facts_file)
    assert f"{facts_file}: line {line_of(facts_file, 'email:')}: field 'contact.email'" in str(e.value)
    assert (e.value.path, e.value.line, e.value.field, e.value.kind) == (facts_file, line_of(facts_file, "email:"), "contact.email", "malformed")
    assert e.value.problem.startswith("'international at umb' does not match")


def test_missing_field_is_named(facts_file: Path, facts: Facts) -> None:
    edit(facts_file, f'  phone: "{facts.contact.phone}"\n', "")
    with pytest.raises(FactsError, match=r"field 'contact': 'phone' is a required property") as e:
        parse(facts_file)
    assert (e.value.line, e.value.field, e.value.kind, e.value.key) == (line_of(facts_file, "contact:"), "contact", "missing", "phone")


def test_unknown_field_is_named(facts_file: Path, facts: Facts) -> None:
    edit(facts_file, f"  email: {facts.contact.email}", f"  email: {facts.contact.email}\n  emial: x@umb.edu.pl")
    with pytest.raises(FactsError, match=r"field 'contact'.*'emial' was unexpected") as e:
        parse(facts_file)
    assert (e.value.kind, e.value.key) == ("unexpected", "emial")


def test_changed_file_is_reloaded(facts_file: Path, facts: Facts, tmp_path: Path) -> None:
    store = FactsStore(facts_file, last_good=tmp_path / "last-good.yml")
    assert store.get()["contact"]["phone"] == facts.contact.phone
    edit(facts_file, facts.contact.phone, "+48 85 111 11 11")
    assert store.get()["contact"]["phone"] == "+48 85 111 11 11"


def test_broken_file_keeps_last_good_facts_and_logs(facts_file: Path, facts: Facts, tmp_path: Path, caplog) -> None:
    store = FactsStore(facts_file, last_good=tmp_path / "last-good.yml")
    store.get()
    per_year = f"  per_year: {facts.visiting_professors.per_year}"
    edit(facts_file, per_year, "  per_year: [broken")
    with caplog.at_level(logging.ERROR):
        assert store.get()["visiting_professors"]["per_year"] == facts.visiting_professors.per_year
    assert f"Facts file rejected, keeping the last good facts. {facts_file}: line" in caplog.text
    edit(facts_file, "  per_year: [broken", "  per_year: over 12")
    assert store.get()["visiting_professors"]["per_year"] == "over 12"


def test_restart_with_broken_file_uses_last_good_copy(facts_file: Path, facts: Facts, tmp_path: Path) -> None:
    last_good = tmp_path / "last-good.yml"
    FactsStore(facts_file, last_good=last_good).get()
    edit(facts_file, "version: 1", "version: 2")
    assert FactsStore(facts_file, last_good=last_good).get()["contact"]["fax"] == facts.contact.fax


def test_no_good_facts_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match="no last good copy") as e:
        FactsStore(tmp_path / "missing.yml", last_good=tmp_path / "none.yml").get()
    assert (e.value.path, e.value.kind) == (tmp_path / "missing.yml", "unreadable")


def test_polish_form_must_say_what_the_english_fact_says(facts_file: Path, facts: Facts) -> None:
    """A translated list needs one Polish item per English item; a quantity's number is written once."""
    regions = facts.partnerships.regions_pl
    edit(facts_file, f"    - {regions[-1]}\n", "")
    with pytest.raises(FactsError) as e:
        parse(facts_file)
    assert (e.value.kind, e.value.field, e.value.line) == ("translation", "partnerships.regions_pl", line_of(facts_file, "  regions_pl:"))
    assert f"has {len(regions) - 1} items, but 'regions' has {len(regions)}" in str(e.value)
    edit(facts_file, "  regions_pl:\n", "  regions_pl:\n" + f"    - {regions[-1]}\n")
    edit(facts_file, f"per_year: {facts.visiting_professors.per_year}", "per_year: over 12")
    assert parse(facts_file)["visiting_professors"]["per_year"] == "over 12"  # no Polish copy of a number to update
    edit(facts_file, "per_year: over 12", "per_year: more or less 12")
    with pytest.raises(FactsError) as e:
        parse(facts_file)
    assert (e.value.kind, e.value.field) == ("malformed", "visiting_professors.per_year")
