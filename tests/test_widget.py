"""The website's chat widget in a real browser: Debian's chromium driven by Playwright.

Both servers are started by the run script (as `make run` does); the browser opens the demo page
they serve at /web/ and talks to the assistant through Rasa's socket.io channel.
Screenshots of the open widget go to reports/screenshots/ (git-ignored).
"""
import re
from pathlib import Path
from typing import Iterator, List

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from scripts.assistant import Assistant
from tests.conftest import ROOT, Facts, fax_reply, phone_reply, phone_reply_pl

CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by the Makefile; Playwright downloads no browser
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "reports" / "screenshots"
WAIT_MS = 30_000  # how long to wait for an answer; not a speed requirement

TOPICS = ["Contact the office", "Partnerships", "Euroregional Center", "Visiting professors"]
TOPICS_PL = ["Kontakt z działem", "Partnerstwa", "Centrum Euroregionalne", "Profesorowie wizytujący"]
MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `make test` installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh visitor (own storage, so a new chat session) on a desktop screen."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, assistant: Assistant) -> Page:
    page = context.new_page()
    page.goto(f"{assistant.url}/web/")
    return page


def open_chat(page: Page) -> None:
    """Click the launcher and wait for the bot's greeting with its quick replies."""
    page.get_by_role("button", name="Chat with us").click()
    expect(page.locator(".umb-chat__quick-reply")).to_have_text(TOPICS, timeout=WAIT_MS)


def ask(page: Page, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_label("Your message").press("Enter")


def bot_texts(page: Page) -> List[str]:
    return [t.removeprefix("Assistant: ") for t in page.locator(".umb-chat__msg--bot").all_text_contents()]


def user_texts(page: Page) -> List[str]:
    return [t.removeprefix("You: ") for t in page.locator(".umb-chat__msg--user").all_text_contents()]


def session_id(page: Page) -> str:
    return page.evaluate(
        "JSON.parse(localStorage.getItem(Object.keys(localStorage).find(k => k.startsWith('umb-chat:')))).sessionId"
    )


def test_phone_question_at_desktop_size(page: Page, facts: Facts) -> None:
    open_chat(page)
    assert bot_texts(page)[0].startswith("Hello! I'm the UMB cooperation assistant.")
    expect(page.get_by_label("Your message")).to_be_focused()
    ask(page, "what is your phone number?")
    expect(page.locator(".umb-chat__msg--bot").last).to_have_text(f"Assistant: {phone_reply(facts)}")
    assert user_texts(page) == ["what is your phone number?"]
    # the greeting's quick replies go once the visitor has asked something
    expect(page.locator(".umb-chat__quick-reply")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-desktop.png"))


def test_quick_reply_answer_with_line_breaks_and_links(page: Page, facts: Facts) -> None:
    c = facts.contact
    open_chat(page)
    page.get_by_role("button", name="Contact the office").click()
    answer = page.locator(".umb-chat__msg--bot").nth(1)
    expect(answer).to_contain_text(f"Phone: {c.phone}")
    assert user_texts(page) == ["Contact the office"]  # its title, not the payload
    assert answer.inner_text().splitlines()[-3:] == [f"Phone: {c.phone}", f"Fax: {c.fax}", f"E-mail: {c.email}"]
    assert answer.locator("br").count() == 4
    expect(answer.get_by_role("link", name=c.email)).to_have_attribute("href", f"mailto:{c.email}")


def test_markup_typed_by_the_visitor_is_shown_as_text(page: Page) -> None:
    dialogs: List[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_chat(page)
    ask(page, MARKUP)
    expect(page.locator(".umb-chat__msg--bot")).to_have_count(2)  # the bot answered it
    assert user_texts(page) == [MARKUP]
    assert page.locator(".umb-chat img, .umb-chat script").count() == 0
    assert dialogs == []


def test_markup_in_a_fact_is_shown_as_text(page: Page, assistant_facts: Path, facts: Facts) -> None:
    dialogs: List[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    path = assistant_facts
    original = path.read_text()
    office = f"{facts.contact.office} <script>alert(2)</script><img src=x onerror=alert(3)>"
    try:
        path.write_text(original.replace(f"office: {facts.contact.office}", f'office: "{office}"'))
        open_chat(page)
        ask(page, "what is your fax number?")
        expect(page.locator(".umb-chat__msg--bot").last).to_have_text(
            f"Assistant: The {office}'s fax number is {facts.contact.fax}."
        )
    finally:
        path.write_text(original)
    assert page.locator(".umb-chat img, .umb-chat script").count() == 0
    assert dialogs == []


def test_reload_keeps_the_session_and_shows_the_history(page: Page, facts: Facts) -> None:
    open_chat(page)
    page.get_by_role("button", name="Euroregional Center").click()
    expect(page.locator(".umb-chat__msg--bot")).to_have_count(2)
    ask(page, "what is your phone number?")
    expect(page.locator(".umb-chat__msg--bot").last).to_have_text(f"Assistant: {phone_reply(facts)}")
    before = session_id(page), user_texts(page), bot_texts(page)

    page.reload()
    # the chat was open, so it opens again, with the same session and the conversation so far
    expect(page.locator(".umb-chat__msg--bot")).to_have_count(3)
    assert (session_id(page), user_texts(page), bot_texts(page)) == before
    assert before[1] == ["Euroregional Center", "what is your phone number?"]
    assert re.fullmatch(r"[0-9a-f]{32}", before[0])
    ask(page, "and the fax?")  # the conversation goes on where it was
    expect(page.locator(".umb-chat__msg--bot").last).to_have_text(f"Assistant: {fax_reply(facts)}")


def test_message_typed_offline_is_sent_after_reconnecting(page: Page, context: BrowserContext, facts: Facts) -> None:
    open_chat(page)
    context.set_offline(True)
    expect(page.locator(".umb-chat__status")).to_contain_text("offline")
    ask(page, "what is your phone number?")
    pending = page.locator(".umb-chat__msg--user").last
    expect(pending).to_contain_text("Not sent yet: it will be sent when the connection is back.")

    context.set_offline(False)
    expect(page.locator(".umb-chat__msg--bot").last).to_have_text(f"Assistant: {phone_reply(facts)}")
    expect(page.locator(".umb-chat__status")).to_be_hidden()
    assert user_texts(page) == ["what is your phone number?"]  # marked sent, and sent once
    page.reload()
    expect(page.locator(".umb-chat__msg--bot")).to_have_count(2)
    assert user_texts(page) == ["what is your phone number?"]


def test_phone_size_and_keyboard(browser: Browser, assistant: Assistant, facts: Facts) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(WAIT_MS)
    try:
        page = ctx.new_page()
        page.goto(f"{assistant.url}/web/")
        # keyboard only: Tab to the launcher (after the page's links), Enter opens
        launcher = page.get_by_role("button", name="Chat with us")
        for _ in range(10):
            page.keyboard.press("Tab")
            if launcher.evaluate("el => el === el.getRootNode().activeElement"):  # in the widget's shadow root
                break
        expect(launcher).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(".umb-chat__quick-reply")).to_have_text(TOPICS)
        dialog = page.get_by_role("dialog", name="UMB cooperation assistant")
        box = dialog.bounding_box()
        assert box is not None and (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        expect(page.get_by_role("log", name="Conversation")).to_be_visible()
        expect(page.get_by_role("button", name="Send")).to_be_visible()
        expect(page.get_by_role("button", name="Close chat")).to_be_visible()

        page.keyboard.type("what is your phone number?")  # the input has the focus
        page.keyboard.press("Enter")
        expect(page.locator(".umb-chat__msg--bot").last).to_have_text(f"Assistant: {phone_reply(facts)}")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))

        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(launcher).to_be_focused()
        assert launcher.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"  # focus visible
    finally:
        ctx.close()


def test_history_is_only_given_for_web_chat_sessions(assistant: Assistant) -> None:
    rest_sender = "0123456789abcdef0123456789abcdef"
    assistant.texts(rest_sender, "what is your phone number?")
    r = requests.get(f"{assistant.url}/web/history/{rest_sender}", timeout=10)
    assert r.status_code == 404  # a REST (or messaging app) conversation is never shown to a browser
    assert requests.get(f"{assistant.url}/web/history/me", timeout=10).status_code == 400
    r = requests.get(f"{assistant.url}/web/history/{'f' * 32}", timeout=10)
    assert r.json() == {"session_id": "f" * 32, "messages": []}


def test_browser_cannot_take_over_another_senders_conversation(context: BrowserContext, assistant: Assistant) -> None:
    assistant.texts("rest-visitor", "what is your phone number?")
    context.add_init_script(
        "localStorage.setItem('umb-chat:' + location.origin, JSON.stringify({sessionId: 'rest-visitor', outbox: []}))"
    )
    page = context.new_page()
    page.goto(f"{assistant.url}/web/")
    open_chat(page)  # a new conversation, greeted: not the REST visitor's
    assert user_texts(page) == []
    assert re.fullmatch(r"[0-9a-f]{32}", session_id(page))


def test_polish_page_speaks_polish(context: BrowserContext, assistant: Assistant, facts: Facts) -> None:
    """<html lang="pl">: the widget's own texts in Polish, a Polish greeting and quick replies, a Polish
    question answered in Polish, also when it waited offline as "Jeszcze nie wysłano"."""
    page = context.new_page()
    page.goto(f"{assistant.url}/web/pl.html")
    page.get_by_role("button", name="Czat z asystentem").click()
    expect(page.locator(".umb-chat__quick-reply")).to_have_text(TOPICS_PL, timeout=WAIT_MS)
    expect(page.get_by_role("dialog", name="Asystent UMB ds. współpracy")).to_be_visible()
    expect(page.locator(".umb-chat__msg--bot").first).to_contain_text("Asystent: Dzień dobry! Jestem asystentem UMB")
    box = page.get_by_label("Treść wiadomości")
    expect(box).to_have_attribute("placeholder", "Proszę wpisać pytanie…")
    expect(page.get_by_role("button", name="Wyślij")).to_be_visible()
    expect(page.get_by_role("button", name="Zamknij czat")).to_be_visible()

    context.set_offline(True)
    expect(page.locator(".umb-chat__status")).to_contain_text("Brak połączenia z internetem. Wiadomości napisane teraz "
                                                             "zostaną wysłane po przywróceniu połączenia.")
    box.fill("jaki jest numer telefonu?")
    box.press("Enter")
    expect(page.locator(".umb-chat__msg--user").last).to_contain_text(
        "Jeszcze nie wysłano: wiadomość zostanie wysłana po przywróceniu połączenia.")
    context.set_offline(False)
    answer = page.locator(".umb-chat__msg--bot").last
    expect(answer.locator(".umb-chat__text")).to_have_text(f"Asystent: {phone_reply_pl(facts)}")
    expect(answer.get_by_role("group", name="Czy ta odpowiedź była pomocna?")).to_be_visible()
    expect(answer.get_by_role("button", name="Pomocna odpowiedź", exact=True)).to_be_visible()
    expect(answer.get_by_role("button", name="Niepomocna odpowiedź")).to_be_visible()
