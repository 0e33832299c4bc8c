"""The staff loop of issue 13 end to end, in the browser, with no terminal: a staff member finds a
question the assistant failed, labels it, runs "Check, train, test, switch", and a visitor asks the
same question in the chat widget and gets the answer.

It runs on a copy of the project, as a deployment checkout would be: the console writes the example
into the copy's data/nlu/, and the copy's own `make check`, training and test-bot run on it (Rasa's
training cache is shared, so only what the new example changed is retrained), and the running
assistant is switched over by Rasa's PUT /model. The staff member's own time (the clicks) and the
time until the answer is live are written to reports/staff-loop.json and logged.
"""
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from console.settings import Settings
from console.users import add_user
from scripts.assistant import Assistant, free_port
from tests.conftest import ROOT, Facts, phone_reply
from tests.test_console import PASSWORD, SECRET, STAFF, UNANSWERED
from tests.test_fact_change import copy_project
from tests.test_widget import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, ask, bot_texts

logger = logging.getLogger(__name__)

RUN_MS = 600_000  # check + train + test take about three minutes on two cores; not a speed requirement
TIMINGS = ROOT / "reports" / "staff-loop.json"


def deployment_copy(target: Path) -> Path:
    """The project's files (those git knows), its trained model and widget script, and links to what
    `make setup` built outside git: a checkout as a deployment has it."""
    copy_project(target)
    (target / "models").mkdir()
    shutil.copy2(ROOT / "models" / "current.tar.gz", target / "models")
    shutil.copytree(ROOT / "web" / "vendor", target / "web" / "vendor")
    (target / "build").mkdir(exist_ok=True)
    (target / "build" / "spacy_en_umb").symlink_to(ROOT / "build" / "spacy_en_umb")
    return target


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    """The copy served with its console, Rasa's HTTP API on behind a token (for the switch)."""
    workdir = tmp_path_factory.mktemp("retrain")
    project = deployment_copy(workdir / "project")
    env = {
        "STAFF_PORT": str(free_port()), "STAFF_SESSION_SECRET": SECRET,
        "STAFF_DB": str(workdir / "staff.db"), "STAFF_AUDIT_LOG": str(workdir / "audit.log"),
        "RASA_AUTH_TOKEN": "test-token-" + "y" * 24,
        "RASA_CACHE_DIRECTORY": str(ROOT / ".rasa" / "cache"),  # `make setup`'s training cache
    }
    add_user(Settings.from_env(env), STAFF, PASSWORD, by="test")
    a = Assistant(workdir, root=project, **env).start()
    a.console = f"http://127.0.0.1:{env['STAFF_PORT']}"
    yield a
    a.stop()


def test_staff_member_teaches_a_failed_question_and_the_widget_answers_it(deployment: Assistant, facts: Facts) -> None:
    before = deployment.texts("retrain-visitor", UNANSWERED)
    assert before != [phone_reply(facts)] and "don't know" in before[0]  # the question the model fails

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            staff, live, steps = staff_loop(browser.new_page(), deployment)
            visitor = browser.new_page()
            visitor.set_default_timeout(WAIT_MS)
            visitor.goto(f"{deployment.url}/web/")
            visitor.get_by_role("button", name="Chat with us").click()
            ask(visitor, UNANSWERED)
            expect(visitor.locator(".umb-chat__msg--bot").last).to_contain_text(phone_reply(facts))
            assert bot_texts(visitor)[-1].startswith(phone_reply(facts))  # then the helpful? buttons
        finally:
            browser.close()
    assert f"    - {UNANSWERED}\n" in (deployment.root / "data" / "nlu" / "contact.yml").read_text()
    timings = {"staff_seconds": round(staff, 1), "until_live_seconds": round(live, 1), "steps": steps}
    TIMINGS.parent.mkdir(exist_ok=True)
    TIMINGS.write_text(json.dumps(timings) + "\n")
    logger.info("find, label, retrain, live: %s", timings)


def staff_loop(page: Page, deployment: Assistant) -> Tuple[float, float, List[str]]:
    """Sign in, label the failed question, start the run and wait for the switch. Returns the staff
    member's own time (everything but waiting for the run), the time until the answer is live, and
    each step with its time as the page shows it ("Train: passed (64 s)")."""
    page.set_default_timeout(WAIT_MS)
    started = time.monotonic()
    page.goto(f"{deployment.console}/login")
    page.get_by_label("Name").fill(STAFF)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    row = page.get_by_role("row").filter(has_text=UNANSWERED)
    row.get_by_label(f"Question meant by: {UNANSWERED}").select_option("ask_contact")
    row.get_by_role("button", name="Add as example").click()
    expect(page.get_by_role("status")).to_contain_text(f"“{UNANSWERED}” added as an example of ask_contact")
    page.get_by_role("link", name="Check, train, test").click()
    page.get_by_role("button", name="Check, train, test, switch").click()
    expect(page.get_by_role("status")).to_contain_text("In progress")
    clicked = time.monotonic() - started
    expect(page.get_by_role("status")).to_contain_text("All passed: the assistant now answers with the new model", timeout=RUN_MS)
    steps = page.locator("ol.steps li strong").all_text_contents()
    assert steps == ["Check the data", "Train", "Test"], steps
    for step in page.locator("ol.steps li").all():
        expect(step).to_contain_text(": passed")
    live = time.monotonic() - started
    # each step's own time, as the page shows it ("Train: passed (64 s)")
    return clicked, live, [s.inner_text().split("\n", 1)[0] for s in page.locator("ol.steps li").all()]
