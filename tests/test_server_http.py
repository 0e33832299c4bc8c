"""End to end over HTTP: both servers started by the run script, talking through the REST channel."""
import time
from pathlib import Path


from scripts.assistant import Assistant

PHONE = "The International Cooperation Office's phone number is +48 85 686 51 76."


def test_contact_and_follow_up(assistant: Assistant) -> None:
    assert assistant.texts("e2e-contact", "what's your phone number?") == [PHONE]
    assert assistant.texts("e2e-contact", "and the fax?") == ["The International Cooperation Office's fax number is +48 85 748 54 16."]


def test_capabilities_offer_quick_replies(assistant: Assistant) -> None:
    [reply] = assistant.say("e2e-help", "what can you do?")
    assert [b["payload"] for b in reply["buttons"]] == [
        "/ask_contact", "/ask_partnerships", "/ask_euroregional_center", "/ask_visiting_professors",
    ]
    # a quick reply sends its payload, which skips NLU
    [answer] = assistant.texts("e2e-help", "/ask_euroregional_center")
    assert answer.startswith("The Euroregional Medical Center for Research and Education was formed in 2003")


def test_euroregional_follow_ups(assistant: Assistant) -> None:
    sender = "e2e-center"
    assert assistant.texts(sender, "tell me about the Euroregional center")[0].startswith(
        "The Euroregional Medical Center for Research and Education was formed in 2003 as a result of an agreement"
    )
    assert assistant.texts(sender, "when was it founded?") == [
        "The Euroregional Medical Center for Research and Education was formed in 2003, as a result of an agreement "
        "between Medical University of Bialystok, Medical University of Grodno and Medical Division of University of Vilnius."
    ]
    assert assistant.texts(sender, "where is it?") == [
        "The Euroregional Medical Center for Research and Education is located at the Medical University of Bialystok."
    ]


def test_out_of_scope_is_honest(assistant: Assistant) -> None:
    [reply] = assistant.texts("e2e-oos", "what's the weather like tomorrow?")
    assert reply.startswith("Sorry, I can only help with the international cooperation")
    assert "international@umb.edu.pl" in reply


def test_senders_do_not_share_context(assistant: Assistant) -> None:
    assistant.texts("e2e-a", "tell me about the visiting professors")
    assert assistant.texts("e2e-b", "where is it?") == ["Which topic would you like to know more about?"]


def test_changed_facts_are_used_without_retraining_or_restart(assistant: Assistant, workdir: Path) -> None:
    facts = workdir / "facts.yml"
    original = facts.read_text()
    try:
        facts.write_text(original.replace('"+48 85 686 51 76"', '"+48 85 000 00 00"'))
        assert assistant.texts("e2e-reload", "what's your phone number?") == [
            "The International Cooperation Office's phone number is +48 85 000 00 00."
        ]
        # a broken edit is refused: the last good facts stay in use
        facts.write_text(original.replace("  phone:", "  phone: [unclosed"))
        assert assistant.texts("e2e-reload", "what's your phone number?") == [
            "The International Cooperation Office's phone number is +48 85 000 00 00."
        ]
    finally:
        facts.write_text(original)
    time.sleep(0.01)
    assert assistant.texts("e2e-reload", "what's your phone number?") == [PHONE]
    assert "Facts file rejected" in assistant.log.read_text()


def test_conversation_survives_a_restart(assistant: Assistant) -> None:
    sender = "e2e-restart"
    assistant.texts(sender, "tell me about the Euroregional center")
    assistant.stop()
    assistant.start()
    assert assistant.texts(sender, "where is it?") == [
        "The Euroregional Medical Center for Research and Education is located at the Medical University of Bialystok."
    ]
