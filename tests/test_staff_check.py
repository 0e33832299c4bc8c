"""`make check` (staff/check.py) on a copy of the project, with one deliberately broken file each time.

Each message must name the file and the line of the mistake and say how to fix it.
"""
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest

from tests.conftest import ROOT, Facts, record_change


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The files staff edit, copied; the check reads nothing else."""
    for name in ("domain.yml", "config.yml", "data", "tests/test_stories.yml", "tests/nlu/heldout.yml", "tests/nlu/heldout_fresh.yml"):
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return tmp_path


def run_check(project: Path, *args: str) -> Tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "staff.check", "--project", str(project), *args],
                            cwd=ROOT, capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def edit(path: Path, old: str, new: str) -> int:
    """Replace `old` (which must be there once) and return the line number where it was."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    line = line_of(path, old)
    path.write_text(text.replace(old, new))
    return line


def line_of(path: Path, fragment: str) -> int:
    """The number of the line where `fragment` starts."""
    text = path.read_text()
    return text[: text.index(fragment)].count("\n") + 1


def test_the_project_as_it_is_passes_all_checks_and_rasas_own(project: Path) -> None:
    code, out = run_check(project)
    assert code == 0, out
    assert "Rasa's own validation (rasa data validate): passed." in out
    assert "at least 10 needed" in out  # says how many examples an intent needs
    assert out.rstrip().endswith("All checks passed.")


def test_bad_yaml_unclosed_quote(project: Path) -> None:
    line = edit(project / "domain.yml", '"Goodbye, and thank you for your interest in cooperating with UMB!"',
                '"Goodbye, and thank you for your interest in cooperating with UMB!')
    code, out = run_check(project)
    assert code == 1
    # the reader notices two lines later; the message points back to where the broken part starts
    assert f"domain.yml, line {line + 2}: this is not valid YAML: the reader got stuck here" in out
    assert f"in the part that starts at line {line}." in out
    assert f"How to fix: Look at the lines from {line} to {line + 2}. The usual causes: a quote" in out
    assert "Rasa's own validation" not in out  # reported once, in plain words


def test_bad_yaml_tab(project: Path) -> None:
    line = edit(project / "data/nlu/contact.yml", "    - contact info\n", "\t- contact info\n")
    code, out = run_check(project)
    assert code == 1
    assert f"data/nlu/contact.yml, line {line}: this is not valid YAML" in out
    assert "a tab instead of spaces" in out


def test_bad_yaml_in_facts(project: Path) -> None:
    line = edit(project / "data/facts.yml", "  phone: ", "  phone: [")
    code, out = run_check(project)
    assert code == 1
    assert f"data/facts.yml, line {line + 1}: not valid YAML" in out
    assert "How to fix: Look at this line and the one just above it" in out


def test_unknown_intent_in_a_story(project: Path) -> None:
    line = edit(project / "data/stories/conversations.yml", "  - intent: thank\n", "  - intent: thanks\n")
    code, out = run_check(project)
    assert code == 1
    assert (f"data/stories/conversations.yml, line {line}: the story 'contact, then a follow-up about another channel' "
            "uses the intent 'thanks', which is not in domain.yml.") in out
    assert "How to fix: Did you mean 'thank'? Correct the spelling" in out


def test_missing_fact(project: Path, facts: Facts) -> None:
    edit(project / "data/facts.yml", f'  fax: "{facts.contact.fax}"\n', "")
    contact_line = next(i for i, l in enumerate((project / "data/facts.yml").read_text().splitlines(), 1) if l == "contact:")
    code, out = run_check(project)
    assert code == 1
    assert f"data/facts.yml, line {contact_line}: the fact 'fax' is missing" in out
    assert "How to fix: Add the line `fax: ...` back under this section" in out


def test_malformed_fact(project: Path, facts: Facts) -> None:
    line = edit(project / "data/facts.yml", f"email: {facts.contact.email}", "email: international at umb.edu.pl")
    code, out = run_check(project)
    assert code == 1
    assert f"data/facts.yml, line {line}: field 'contact.email'" in out
    assert "an e-mail address such as name@umb.edu.pl" in out


def test_change_record_naming_no_fact(project: Path, facts: Facts) -> None:
    line = record_change(project / "data/facts.yml", "contact.telephone")
    code, out = run_check(project)
    assert code == 1
    assert (f"data/facts.yml, line {line}: field 'source.changed_by_staff.{len(facts.source.changed_by_staff)}.field': "
            "'contact.telephone' is not a fact in this file") in out
    assert "How to fix: Write the place of the fact you changed as the file names it" in out


def test_duplicated_example(project: Path) -> None:
    contact = project / "data/nlu/contact.yml"
    line = edit(contact, "    - contact info\n", "    - contact info\n    - what partner universities do you have\n    - Contact  info\n")
    code, out = run_check(project)
    assert code == 1
    first = line_of(project / "data/nlu/partnerships.yml", "    - what partner universities do you have\n")
    assert (f"data/nlu/partnerships.yml, line {first}: 'what partner universities do you have' is an example of 'ask_partnerships' here "
            f"and of 'ask_contact' in data/nlu/contact.yml, line {line + 1}") in out
    assert "How to fix: Keep it only under the intent it really means and delete the other line." in out
    assert f"data/nlu/contact.yml, line {line + 2}: 'Contact  info' is already an example of 'ask_contact' (data/nlu/contact.yml, line {line})" in out
    assert "How to fix: Delete one of the two lines." in out


def test_fact_in_a_response(project: Path, facts: Facts) -> None:
    line = edit(project / "domain.yml", "cooperating with UMB!", f"cooperating with UMB! Call us on {facts.contact.phone}.")
    code, out = run_check(project)
    assert code == 1
    assert f"domain.yml, line {line}: the response 'utter_goodbye' contains '{facts.contact.phone}', a fact from data/facts.yml" in out
    assert "How to fix: Write {phone} instead" in out


def test_polish_wordings_missing_or_not_saying_the_same(project: Path, facts: Facts) -> None:
    domain = project / "domain.yml"
    goodbye = line_of(domain, "  utter_goodbye:")
    edit(domain, '    - condition: [{type: slot, name: language, value: pl}]\n      text: "Do widzenia', '    - text: "Do widzenia')
    phone = edit(domain, '"{office} – numer telefonu: {phone}."', '"{office} – numer telefonu: {fax}."')
    count = edit(domain, '"Co roku uczelnia gości {per_year} wybitnych', '"Co roku uczelnia gości ponad 10 wybitnych')
    code, out = run_check(project)
    assert code == 1
    assert f"domain.yml, line {goodbye}: the response 'utter_goodbye' has no Polish wording" in out
    assert "How to fix: Add after its English wording:\n      - condition: [{type: slot, name: language, value: pl}]" in out
    assert (f"domain.yml, line {phone}: the Polish wording of 'utter_contact_phone' does not give the same facts as the English "
            "one: it lacks {phone}; has {fax}, which the English one does not.") in out
    assert f"domain.yml, line {count}: the Polish wording of 'utter_visiting_professors_count' does not give the same facts" in out
    # the Polish form of a fact is a fact too: "ponad 10" is {per_year} said in Polish
    assert f"domain.yml, line {count}: the response 'utter_visiting_professors_count' contains 'ponad 10', a fact from data/facts.yml" in out


def test_missing_polish_form_of_a_fact(project: Path, facts: Facts) -> None:
    facts_file = project / "data/facts.yml"
    edit(facts_file, f"  location_pl: ", "  # location_pl: ")
    line = line_of(facts_file, f"  location: {facts.euroregional_center.location}")
    code, out = run_check(project)
    assert code == 1
    assert (f"data/facts.yml, line {line}: the Polish form of 'location' is missing (field 'euroregional_center.location_pl': "
            "'location_pl' is a required property (the Polish form of 'location'))") in out
    assert "How to fix: Add the line `location_pl: ...` right under `location:` (this line)" in out


def test_fact_in_a_training_example(project: Path, facts: Facts) -> None:
    email = facts.contact.email
    line = edit(project / "data/nlu/contact.yml", "    - contact info\n", f"    - is {email} your mail\n")
    code, out = run_check(project)
    assert code == 1
    assert f"data/nlu/contact.yml, line {line}: the example 'is {email} your mail' contains '{email}'" in out
    assert "How to fix: Write the question without it" in out


def test_unknown_response_in_a_rule(project: Path) -> None:
    line = edit(project / "data/rules/faq.yml", "  - action: utter_goodbye\n", "  - action: utter_good_bye\n")
    code, out = run_check(project)
    assert code == 1
    assert f"data/rules/faq.yml, line {line}: the rule 'say goodbye' sends the response 'utter_good_bye', which is not in domain.yml." in out
    assert "How to fix: Did you mean 'utter_goodbye'?" in out


def test_new_intent_with_too_few_examples_and_no_rule(project: Path) -> None:
    domain_line = edit(project / "domain.yml", "  - ask_last_update\n", "  - ask_last_update\n  - ask_erasmus\n") + 1
    (project / "data/nlu/erasmus.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: ask_erasmus\n  examples: |\n    - erasmus?\n    - tell me about erasmus\n    - erasmus exchange\n'
    )
    code, out = run_check(project)
    assert code == 1
    assert ("data/nlu/erasmus.yml, line 3: the intent 'ask_erasmus' has only 3 examples; at least 10 are needed") in out
    assert "How to fix: Add 7 more ways of asking it" in out
    assert f"domain.yml, line {domain_line}: no rule or story uses the intent 'ask_erasmus'" in out
    assert "- rule: ask_erasmus" in out


def test_too_few_polish_examples_and_a_polish_example_among_the_english(project: Path) -> None:
    """Each intent needs 10 Polish examples in data/nlu/pl/; one with Polish letters elsewhere is misplaced."""
    polish = project / "data/nlu/pl/basics.yml"
    text = polish.read_text()
    start = text.index("- intent: goodbye\n")
    end = text.index("\n- intent:", start + 1)
    polish.write_text(text[:start] + "- intent: goodbye\n  examples: |\n    - do widzenia\n    - pa pa\n    - na razie\n" + text[end:])
    line = line_of(polish, "- intent: goodbye")
    english_line = edit(project / "data/nlu/basics.yml", "    - see ya later\n", "    - see ya later\n    - do zobaczenia jutro, cześć\n") + 1
    code, out = run_check(project, "--skip-rasa")
    assert code == 1
    assert (f"data/nlu/pl/basics.yml, line {line}: the intent 'goodbye' has only 3 Polish examples; at least 10 are needed "
            "to understand it in Polish.") in out
    assert "How to fix: Add 7 more ways of asking it in Polish in a file in data/nlu/pl/, under `- intent: goodbye`" in out
    assert (f"data/nlu/basics.yml, line {english_line}: the example 'do zobaczenia jutro, cześć' is Polish, but it is among "
            "the English examples.") in out
    assert "How to fix: Move it to the file of the same name in data/nlu/pl/, under `- intent: goodbye`." in out


def test_new_partner_without_entity_names(project: Path, facts: Facts) -> None:
    last = f"    - {facts.visiting_professors.home_institutions[-1]}\n"
    line = edit(project / "data/facts.yml", last, f"{last}    - Tokyo Medical and Dental University\n") + 1
    code, out = run_check(project)
    assert code == 1
    assert (f"data/facts.yml, line {line}: 'Tokyo Medical and Dental University' (visiting_professors.home_institutions) has no synonym list "
            "in data/nlu/entities.yml") in out
    assert '- synonym: "Tokyo Medical and Dental University"' in out and "to the lookup 'institution' too" in out


def test_synonym_missing_from_lookup_and_lookup_order(project: Path) -> None:
    entities = project / "data/nlu/entities.yml"
    order_line = edit(entities, "    - tel\n    - fax\n", "    - tel\n    - fax\n    - fax machine\n") + 2
    # at the end of the Harvard Medical School block (its last name is a Polish form)
    syn_line = edit(entities, "\n- synonym: \"University of Pennsylvania\"", "\n    - harvard med\n- synonym: \"University of Pennsylvania\"") + 1
    code, out = run_check(project)
    assert code == 1
    assert (f"data/nlu/entities.yml, line {syn_line}: 'harvard med' is a name for 'Harvard Medical School', but it is in no lookup list") in out
    assert "How to fix: Add '- harvard med' to the lookup 'institution'" in out
    assert f"data/nlu/entities.yml, line {order_line}: in the lookup 'contact_channel', 'fax machine' comes after the shorter 'fax'" in out
    assert "How to fix: Move 'fax machine' up" in out


def test_make_test_runs_the_check() -> None:
    """`make check` is what staff type, and `make test` (what CI runs) runs it too."""
    for target in ("check", "test"):
        out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True).stdout
        assert "python -m staff.check" in out, target


def test_unlabelled_unanswered_snippet_pasted_into_data(project: Path) -> None:
    """`make unanswered` exports not-understood messages under nlu_fallback: they must be relabelled first."""
    (project / "data/nlu/pasted.yml").write_text('version: "3.1"\nnlu:\n- intent: nlu_fallback\n  examples: |\n    - is there a canteen\n'
                                                 "- intent: ask_erasmus\n  examples: |\n    - erasmus?\n")
    code, out = run_check(project)
    assert code == 1
    assert "data/nlu/pasted.yml, line 3: 'nlu_fallback' is how the assistant says 'I did not understand'; it must have no examples." in out
    assert "How to fix: Move these examples under the intent each one really means (or under out_of_scope)." in out
    assert "data/nlu/pasted.yml, line 6: the examples are for the intent 'ask_erasmus', which is not in domain.yml." in out
