"""End to end over HTTP: the assistant started by the run script with its default settings (the custom
actions inside the Rasa server), talking through the REST channel."""
import time
from pathlib import Path
from typing import List

import requests

from channels.guard import MAX_MESSAGE_CHARS
from scripts.assistant import Assistant
from tests.conftest import Facts, center_founded_reply, center_location_reply, fax_reply, listing_pl, phone_reply, phone_reply_pl


def test_contact_and_follow_up(assistant: Assistant, facts: Facts) -> None:
    assert assistant.texts("e2e-contact", "what's your phone number?") == [phone_reply(facts)]
    assert assistant.texts("e2e-contact", "and the fax?") == [fax_reply(facts)]


def test_the_custom_actions_run_inside_the_rasa_server(assistant: Assistant) -> None:
    checks = requests.get(f"{assistant.url}/health/ready", timeout=5).json()["checks"]
    assert checks["actions"] == "ok" and "action_server" not in checks
    assert "custom actions inside it (actions)" in assistant.log.read_text()
    assert "action server started" not in assistant.log.read_text()
    # no action server among the run script's processes (its port, left free, may be taken by another
    # test's server meanwhile: a process check, not a port check)
    commands = _commands_of_group(assistant.proc.pid)
    assert any("rasa_addons.server" in c for c in commands) and not any("actions.server" in c for c in commands)


def _commands_of_group(group: int) -> List[str]:
    """The command lines of the processes in a process group (the run script starts its own)."""
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == group:  # after "pid (name)": state, ppid, pgrp
                commands.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return commands


def test_capabilities_offer_quick_replies(assistant: Assistant, facts: Facts) -> None:
    [reply] = assistant.say("e2e-help", "what can you do?")
    assert [b["payload"] for b in reply["buttons"]] == [
        "/ask_contact", "/ask_partnerships", "/ask_euroregional_center", "/ask_visiting_professors",
    ]
    # a quick reply sends its payload, which skips NLU
    [answer] = assistant.texts("e2e-help", "/ask_euroregional_center")
    c = facts.euroregional_center
    assert answer.startswith(f"The {c.name} was formed in {c.founded}")


def test_euroregional_follow_ups(assistant: Assistant, facts: Facts) -> None:
    sender = "e2e-center"
    c = facts.euroregional_center
    assert assistant.texts(sender, "tell me about the Euroregional center")[0].startswith(
        f"The {c.name} was formed in {c.founded} as a result of an agreement"
    )
    assert assistant.texts(sender, "when was it founded?") == [center_founded_reply(facts)]
    assert assistant.texts(sender, "where is it?") == [center_location_reply(facts)]


def test_out_of_scope_is_honest(assistant: Assistant, facts: Facts) -> None:
    [reply] = assistant.texts("e2e-oos", "what's the weather like tomorrow?")
    assert reply.startswith("Sorry, I don't know that: I answer only from the university's International Cooperation page")
    assert facts.contact.email in reply


def test_senders_do_not_share_context(assistant: Assistant, facts: Facts) -> None:
    assistant.texts("e2e-a", "tell me about the visiting professors")
    # another sender's "where is it?" has no topic to refer to: not understood, not the professors' answer
    [reply] = assistant.texts("e2e-b", "where is it?")
    assert reply.startswith("Sorry, I didn't understand that, so I don't know how to answer.") and facts.contact.email in reply


def test_changed_facts_are_used_without_retraining_or_restart(assistant: Assistant, assistant_facts: Path, facts: Facts) -> None:
    path = assistant_facts
    original = path.read_text()
    new_phone = "+48 85 000 00 00"
    changed = f"The {facts.contact.office}'s phone number is {new_phone}."
    try:
        path.write_text(original.replace(f'"{facts.contact.phone}"', f'"{new_phone}"'))
        assert assistant.texts("e2e-reload", "what's your phone number?") == [changed]
        # a broken edit is refused: the last good facts stay in use
        path.write_text(original.replace("  phone:", "  phone: [unclosed"))
        assert assistant.texts("e2e-reload", "what's your phone number?") == [changed]
    finally:
        path.write_text(original)
    time.sleep(0.01)
    assert assistant.texts("e2e-reload", "what's your phone number?") == [phone_reply(facts)]
    assert "Facts file rejected" in assistant.log.read_text()


def test_conversation_survives_a_restart(assistant: Assistant, facts: Facts) -> None:
    sender = "e2e-restart"
    assistant.texts(sender, "tell me about the Euroregional center")
    assistant.stop()
    assistant.start()
    assert assistant.texts(sender, "where is it?") == [center_location_reply(facts)]


def test_a_conversation_in_polish_and_back(assistant: Assistant, facts: Facts) -> None:
    """The `language` slot (set here by the language entity of a payload, as the widget's Polish
    greeting does) picks the Polish wordings, filled from the Polish forms; a follow-up stays on topic."""
    sender, c = "e2e-polish", facts.euroregional_center
    assert assistant.texts(sender, '/ask_contact{"language": "pl", "contact_channel": "phone"}') == [phone_reply_pl(facts)]
    assert assistant.texts(sender, '/ask_euroregional_center{"aspect": "location"}') == [f"{c.name} mieści się {c.location_pl}."]
    assert assistant.texts(sender, '/ask_followup{"aspect": "founding"}') == [
        f"{c.name} powstało w {c.founded} roku w wyniku porozumienia między {listing_pl(c.founding_partners)}."]
    # the guard's own reply to a message it does not read: in the conversation's language when the
    # message itself does not tell (digits only)
    o = facts.contact
    assert assistant.texts(sender, "1234567890 " * (MAX_MESSAGE_CHARS // 10)) == [
        f"Przepraszam, Państwa wiadomość jest dla mnie za długa: proszę ograniczyć ją do mniej niż {MAX_MESSAGE_CHARS} "
        f"znaków. Można też napisać na adres {o.email} lub zadzwonić pod numer {o.phone} ({o.office_pl})."]
    # a Polish message too long to read gets the Polish reply in a new conversation too (the model's detector)
    assert assistant.texts("e2e-polish-long", "Dzień dobry, chciałbym zapytać o współpracę. " * 30) == [
        f"Przepraszam, Państwa wiadomość jest dla mnie za długa: proszę ograniczyć ją do mniej niż {MAX_MESSAGE_CHARS} "
        f"znaków. Można też napisać na adres {o.email} lub zadzwonić pod numer {o.phone} ({o.office_pl})."]
    assert assistant.texts(sender, '/ask_contact{"language": "en", "contact_channel": "phone"}') == [phone_reply(facts)]
