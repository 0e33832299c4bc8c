"""A fact changed exactly as docs/STAFF.md, worked example 1, says keeps the tests green; a wrong
answer still turns them red.

In a copy of the project (its git-tracked files as they are now), the phone number is changed and
the change recorded with the YAML that the guide shows; then the tests that read the facts and need
no server or trained model run there, in a pytest of their own. Then the phone answer is made to
show the fax number instead, and the same run must fail (it stops at the first failure).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

from tests.conftest import ROOT, Facts
from tests.test_facts import DEFAULT_PAGE

GUIDE = ROOT / "docs" / "STAFF.md"
# The unit-level tests that read the facts: answers and actions, the facts file, `make check`.
FAST_TESTS = ["tests/test_answers.py", "tests/test_facts.py", "tests/test_staff_check.py"]


def worked_example_1() -> Tuple[str, str]:
    """(the new phone line, the changed_by_staff block) as docs/STAFF.md's worked example 1 writes them."""
    text = GUIDE.read_text()
    section = text[text.index("## Worked example 1"):text.index("## Worked example 2")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    [phone] = [b.strip("\n") for b in blocks if b.lstrip().startswith("phone:")]
    [record] = [b.rstrip("\n") for b in blocks if "changed_by_staff:" in b]
    return phone, record


def copy_project(target: Path) -> Path:
    """The project's git-tracked files, as they are in the working tree."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run_tests(project: Path, *options: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "UMB_FACTS_FILE"}
    if "UMB_SOURCE_PAGE" not in env and DEFAULT_PAGE.exists():
        env["UMB_SOURCE_PAGE"] = str(DEFAULT_PAGE)  # the copy has no ../shared: check its facts against the page too
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, *FAST_TESTS],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)


def failed(run: subprocess.CompletedProcess) -> List[str]:
    return re.findall(r"^FAILED (\S+)", run.stdout, re.M)


def test_a_documented_fact_change_keeps_the_tests_green_and_a_wrong_answer_turns_them_red(tmp_path: Path, facts: Facts) -> None:
    phone_line, record = worked_example_1()
    new_phone = phone_line.split('"')[1]
    assert new_phone != facts.contact.phone
    project = copy_project(tmp_path)
    facts_file = project / "data" / "facts.yml"
    text = facts_file.read_text()
    old_line = f'  phone: "{facts.contact.phone}"'
    assert text.count(old_line) == 1 and text.count("  changed_by_staff: []") == 1
    facts_file.write_text(text.replace(old_line, f"  {phone_line.strip()}").replace("  changed_by_staff: []", record))
    assert Facts.load(facts_file).contact.phone == new_phone

    green = run_tests(project)
    assert green.returncode == 0, green.stdout[-5000:] + green.stderr[-2000:]
    summary = green.stdout.splitlines()[-1]
    assert re.search(r"^\d+ passed", summary), green.stdout[-2000:]
    if "UMB_SOURCE_PAGE" in os.environ or DEFAULT_PAGE.exists():
        assert "skipped" not in summary, green.stdout[-2000:]  # the facts were checked against the page too

    domain = project / "domain.yml"
    wording = domain.read_text()
    assert wording.count("phone number is {phone}") == 1
    domain.write_text(wording.replace("phone number is {phone}", "phone number is {fax}"))
    red = run_tests(project, "-x")  # the first failure is enough
    assert red.returncode == 1, red.stdout[-5000:] + red.stderr[-2000:]
    assert failed(red) and all(name.startswith("tests/test_answers.py::") for name in failed(red)), red.stdout[-3000:]

