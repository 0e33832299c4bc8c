"""Which answer to give: picks the response (wording, in domain.yml) and fills it from the facts.

Pure functions of (facts, what the user asked), so they are easy to test and to read. An answer is
a list of (response name, template variables) pairs; the actions send them.

A topic answers the aspects it has (the `aspect` entity: founding, location, funding, ...). An
aspect the page does not give for that topic, or a detail it never gives (the `detail` entity:
opening hours, director, deadlines, ...), gets that topic's honest "I don't know" with the office's
contact details: never another topic's answer, never a guess.
"""
import functools
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from actions.facts import said_in, translated

Answer = List[Tuple[str, Dict[str, str]]]
# What a message asks: entity -> its values, in the order they were said.
Asked = Dict[str, List[str]]

# The placeholders the responses in domain.yml may use, and the fact each one is filled from.
# The one map from facts to wording: `make check` (staff/check.py) reads it too. A Polish response
# gets the same placeholders, filled from the facts' Polish forms where they have one
# (actions.facts.TRANSLATED: `contact.office_pl` for {office}).
PLACEHOLDERS: Dict[str, str] = {
    "university": "university.name",
    "office": "contact.office",
    "office_full_name": "contact.office_full_name",
    "street": "contact.address.street",
    "postcode": "contact.address.postcode",
    "city": "contact.address.city",
    "country": "contact.address.country",
    "phone": "contact.phone",
    "fax": "contact.fax",
    "email": "contact.email",
    "aim": "partnerships.aim",
    "agreements": "partnerships.agreements",
    "regions": "partnerships.regions",
    "center_name": "euroregional_center.name",
    "founded": "euroregional_center.founded",
    "founding_partners": "euroregional_center.founding_partners",
    "location": "euroregional_center.location",
    "role": "euroregional_center.role",
    "events": "euroregional_center.events",
    "audience": "visiting_professors.audience",
    "description": "visiting_professors.description",
    "programme": "visiting_professors.programme",
    "funders": "visiting_professors.funders",
    "operational_programme": "visiting_professors.operational_programme",
    "per_year": "visiting_professors.per_year",
    "home_institutions": "visiting_professors.home_institutions",
    "source_title": "source.title",
    "last_updated": "source.last_updated",
    "updated_by": "source.updated_by",
}

# The contact details that have an answer of their own, in the order they are given.
CONTACT_CHANNELS = ("phone", "fax", "email", "address", "postcode")
# Names of a contact detail that are answered by another's response.
CONTACT_ALIASES = {"street": "address", "city": "address", "country": "address", "location": "address", "name": "office"}

# For each topic: the aspect asked -> the response (suffix) that answers it, in answer order.
# An aspect missing here is one the page does not give for that topic: "I don't know".
TOPIC_ASPECTS: Dict[str, Dict[str, str]] = {
    "euroregional_center": {
        "founding": "founding", "partners": "founding", "agreements": "founding", "location": "location",
        "activities": "activities", "audience": "activities", "events": "events",
        "name": "overview", "count": "overview", "origin": "founding",
    },
    "visiting_professors": {
        "audience": "audience", "description": "description", "programme": "programme", "name": "programme",
        "funding": "funding", "count": "count", "origin": "origin", "location": "origin", "partners": "origin",
        "activities": "overview", "who": "description",
    },
    "partnerships": {
        "aim": "aim", "activities": "aim", "location": "overview", "origin": "overview", "partners": "overview", "agreements": "overview",
        "name": "overview",
    },
}


# What a question about the page itself may ask: when it was updated, by whom, what it is called, where
# it is, what it says. Any other aspect (funding, events, partners, ...) is another topic's, even when
# the page is named ("what is the operational programme financing, according to the page?").
PAGE_ASPECTS = frozenset({"founding", "author", "name", "location", "description"})


def _asks_beyond_the_page(aspects: List[str]) -> bool:
    return bool(aspects) and not any(a in PAGE_ASPECTS for a in aspects)


# "and" in each language the answers are given in
AND = {"en": "and", "pl": "i"}


def join(items: Iterable[str], language: str = "en") -> str:
    """'a', 'a and b', 'a, b and c' — how the page itself lists things ('a, b i c' in Polish)."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {AND[language]} " + items[-1]


def _fact(facts: Dict[str, Any], path: str) -> Any:
    node: Any = facts
    for key in path.split("."):
        node = node[key]
    return node


# The facts dicts answered from at once: in the Rasa server, the custom actions, the responses (OfficeNLG) and
# the NLU components each read the facts file through a store of their own, and take turns at every message.
KEPT_FACTS_VERSIONS = 4


def per_facts_version(compute: Callable[..., Any]) -> Callable[..., Any]:
    """`compute(facts, *args)` worked out once per version of the facts: a reload gives a new dict, and
    answers are given from the same one many times (the years and placeholders of every message).
    Kept for the last few dicts, not only the last: with one, the stores taking turns meant working
    everything out again at every call."""
    kept: Dict[int, Tuple[Dict[str, Any], Dict[Any, Any]]] = {}  # id(facts): facts, held so the id stays theirs

    @functools.wraps(compute)
    def cached(facts: Dict[str, Any], *args: Any) -> Any:
        entry = kept.get(id(facts))
        if entry is None:
            if len(kept) >= KEPT_FACTS_VERSIONS:
                del kept[next(iter(kept))]  # the oldest
            entry = kept[id(facts)] = (facts, {})
        results = entry[1]
        if args not in results:
            results[args] = compute(facts, *args)
        return results[args]

    return cached


@per_facts_version
def _variables(facts: Dict[str, Any], language: str) -> Dict[str, str]:
    values = {name: said_in(path, _fact(facts, translated(path, language)), language) for name, path in PLACEHOLDERS.items()}
    return {name: join(v, language) if isinstance(v, list) else str(v) for name, v in values.items()}


def variables(facts: Dict[str, Any], language: str = "en") -> Dict[str, str]:
    """Every placeholder's value in `language` ("en" or "pl"): lists read as the page lists them."""
    return dict(_variables(facts, language))


def in_language(facts: Dict[str, Any], answer: Answer, language: Optional[str]) -> Answer:
    """The answer with its placeholders filled in `language` (the `language` slot); English when it
    is unset or unknown. A region asked about that the facts list gets its Polish form too."""
    if language != "pl":
        return answer
    values = variables(facts, "pl")
    regions = facts["partnerships"]["regions"]
    result: Answer = []
    for response, given in answer:
        extra = {k: v for k, v in given.items() if k not in PLACEHOLDERS}
        if extra.get("region") in regions:
            extra["region"] = _fact(facts, translated("partnerships.regions", "pl"))[regions.index(extra["region"])]
        result.append((response, {**values, **extra}))
    return result


def dont_know(facts: Dict[str, Any], topic: str) -> Answer:
    """The honest answer to a question about `topic` that the page does not answer."""
    return [(f"utter_dont_know_{topic}", variables(facts))]


def contact(facts: Dict[str, Any], channels: List[str], details: List[str], names: List[str]) -> Answer:
    """One line per contact detail asked for; the full card when none (or the office itself) is asked.
    The page gives the office's details only: not a partner institution's (`names`)."""
    values = variables(facts)
    asked = {CONTACT_ALIASES.get(c, c) for c in channels}
    answer = [(f"utter_contact_{c}", values) for c in CONTACT_CHANNELS if c in asked]
    if names:
        return dont_know(facts, "contact")
    if details:
        # "parking by the office?", "how long do they take to answer an e-mail?": the page does not
        # say; the honest reply gives the e-mail and phone, and any other detail asked follows it
        given = {"utter_contact_email", "utter_contact_phone"}
        return dont_know(facts, "contact") + [line for line in answer if line[0] not in given]
    if "office" in asked and not answer:
        # who to ask, or the office's name, alone: the office with all its details; beside a detail
        # asked ("the office's name and its e-mail"), that detail's line, which names the office
        return [("utter_contact_partnership_requests", values)]
    return answer or [("utter_contact_card", values)]


def _find(name: str, names: Iterable[str]) -> Optional[str]:
    """The facts' spelling of `name`, compared without case."""
    return next((n for n in names if n.lower() == name.lower()), None)


def on_the_page(facts: Dict[str, Any], name: str) -> bool:
    """Whether the facts name this institution: a founder of the center or a home of visiting professors.
    Read at each call, so a partner added by staff counts at once, without retraining."""
    return bool(_find(name, facts["euroregional_center"]["founding_partners"] + facts["visiting_professors"]["home_institutions"]))


def institutions(facts: Dict[str, Any], names: List[str]) -> Answer:
    """What the page says of each institution named: a founder of the center, or a home of visiting
    professors; of one it does not name ("is Stanford one of them?"), that it does not say."""
    values = variables(facts)
    answer: Answer = []
    for name in names:
        partner = _find(name, facts["euroregional_center"]["founding_partners"])
        visitor = _find(name, facts["visiting_professors"]["home_institutions"])
        if partner:
            answer.append(("utter_partnerships_center_partner", {**values, "institution": partner}))
        elif visitor:
            answer.append(("utter_partnerships_visiting_institution", {**values, "institution": visitor}))
        else:
            answer.append(("utter_institution_unknown", {**values, "institution": name}))
    return answer


# The topic an answer about institutions leaves the conversation in: a founder of the center was an
# answer about the center ("and who else signed that agreement?"), a home of visiting professors one
# about the professors.
INSTITUTION_TOPICS = {"utter_partnerships_center_partner": "euroregional_center",
                      "utter_partnerships_visiting_institution": "visiting_professors"}


def _topic_after(answer: Answer, topic: str) -> str:
    """The one topic every response of the answer is about (an answer about a founder and the center's
    activities: the center), else `topic`."""
    topics = {INSTITUTION_TOPICS.get(response) or next((t for t in ANSWERS if response.startswith(f"utter_{t}_")), None)
              for response, _ in answer}
    return topics.pop() or topic if len(topics) == 1 else topic


def topic_of(current: Optional[str], aspects: List[str], channels: List[str], generic: bool = False) -> Optional[str]:
    """The topic a follow-up is about: the current one, unless what it asks is something only
    another topic has ("how many summer universities?" after the office's phone number). A follow-up
    asked with question words only ("since when?", "how many?": `generic`) is about the current topic,
    which may not know it."""
    if channels and not aspects:
        return "contact"
    if generic and current in TOPIC_ASPECTS:
        return current
    if current in TOPIC_ASPECTS and any(a in TOPIC_ASPECTS[current] for a in aspects):
        return current
    if current == "last_update" and not _asks_beyond_the_page(aspects):
        return current  # "when?" after who updated the page: the page's date
    return _only_owner(aspects) or current


# Aspects a topic without them answers as if they were not asked ("who are the partners?")
SOFT = frozenset({"who"})
# Aspects that ask something of another ("how many agreements?"): a topic without it does not know
QUALIFYING = frozenset({"count"})
# What a response already says, by topic: the professors' description names their homes and number
COVERS = {"visiting_professors": {"description": ("origin", "count")}}


def by_aspect(facts: Dict[str, Any], topic: str, aspects: List[str], details: List[str]) -> Answer:
    """The answers for the aspects asked about `topic`; its overview when none is named."""
    if details:
        return dont_know(facts, topic)
    known = TOPIC_ASPECTS[topic]
    aspects = [a for a in aspects if a in known or a not in SOFT]
    if aspects and not any(a in known for a in aspects):
        return dont_know(facts, topic)
    if any(a in QUALIFYING and a not in known for a in aspects):
        return dont_know(facts, topic)  # "how many agreements exactly?": the page does not count them
    asked = list(dict.fromkeys(known[a] for a in aspects if a in known))
    if "overview" in asked:
        asked = ["overview"]
    for response, said in COVERS.get(topic, {}).items():
        if response in asked:
            asked = [a for a in asked if a not in said]
    values = variables(facts)
    return [(f"utter_{topic}_{suffix}", values) for suffix in asked or ["overview"]]


def partnerships(facts: Dict[str, Any], names: List[str], regions: List[str], aspects: List[str], details: List[str]) -> Answer:
    """What the page says about the partners, institutions and regions asked for; honest 'I don't know' for the rest."""
    if details:
        # a detail the page lacks is the question, even beside a partner's name ("criteria for an exchange to Grodno?")
        return dont_know(facts, "partnerships")
    answer = institutions(facts, names)
    owner = _topic_after(answer, "partnerships")
    if owner != "partnerships" and not regions:
        # a founder of the center or a home of visiting professors, and what that topic has beside it ("does
        # Grodno educate students with UMB?": a founder, and what the center does)
        return _with_institutions(facts, owner, names, aspects, details)
    unknown = any(response == "utter_institution_unknown" for response, _ in answer)
    values = variables(facts)
    for name in regions:
        known = _find(name, facts["partnerships"]["regions"])
        if known:
            answer.append(("utter_partnerships_region", {**values, "region": known}))
        elif not unknown:  # "Charité in Berlin": the honest reply about the institution says it
            answer.append(("utter_partnerships_region_unknown", {**values, "region": name}))
    return answer or by_aspect(facts, "partnerships", aspects, details)


# What the answer about an institution already says, by topic: a founder's answer gives the founding
# agreement and its partners, a home institution's the programme's visitors, their number and homes.
INSTITUTION_SAYS = {"euroregional_center": frozenset({"founding", "partners", "agreements", "origin", "name"}),
                    "visiting_professors": frozenset({"origin", "partners", "location", "count", "name"})}


def _with_institutions(facts: Dict[str, Any], topic: str, names: List[str], aspects: List[str], details: List[str]) -> Answer:
    """What the page says of the institutions named, then any other aspect of the topic asked ("does
    Grodno take part in training students through the center?": a founder, and what the center does);
    a detail the page lacks is the question, even beside a name ("can Grodno's students transfer?")."""
    about = not details and institutions(facts, names)
    if not about:
        return by_aspect(facts, topic, aspects, details)
    more = [a for a in aspects if a in TOPIC_ASPECTS[topic] and a not in INSTITUTION_SAYS[topic]]
    responses = {response for response, _ in about}
    if topic == "euroregional_center" and "utter_institution_unknown" in responses and not responses & set(INSTITUTION_TOPICS):
        # the page names every founder of the center: one it does not name gets them ("did Warsaw co-found it?")
        more = ["founding", *more]
    return about + (by_aspect(facts, topic, more, []) if more else [])


def euroregional_center(facts: Dict[str, Any], names: List[str], aspects: List[str], details: List[str]) -> Answer:
    return _with_institutions(facts, "euroregional_center", names, aspects, details)


def visiting_professors(facts: Dict[str, Any], names: List[str], aspects: List[str], details: List[str]) -> Answer:
    return _with_institutions(facts, "visiting_professors", names, aspects, details)


def last_update(facts: Dict[str, Any], details: List[str]) -> Answer:
    if details:
        return dont_know(facts, "last_update")
    return [("utter_last_update", variables(facts))]


ANSWERS: Dict[str, Callable[[Dict[str, Any], Callable[[str], List[str]]], Answer]] = {
    "contact": lambda f, get: contact(f, get("contact_channel") + get("aspect"), get("detail"), get("institution")),
    "partnerships": lambda f, get: partnerships(f, get("institution"), get("country"), get("aspect"), get("detail")),
    "euroregional_center": lambda f, get: euroregional_center(f, get("institution"), get("aspect"), get("detail")),
    "visiting_professors": lambda f, get: visiting_professors(f, get("institution"), get("aspect"), get("detail")),
    "last_update": lambda f, get: last_update(f, get("detail")),
}
# The intent that asks about each topic (rules: ask_<topic> -> action_answer_<topic>)
TOPIC_INTENTS: Dict[str, str] = {f"ask_{topic}": topic for topic in ANSWERS}

# Entities that say nothing about what is asked.
NOT_ASKED = ("language",)

# Where one question ends and another may begin: "where is the center and who pays the professors?"
# Polish: "oraz", "a także", "także", "też", "jak również", "ponadto", "poza tym", and "i" or "a" before a
# question word ("gdzie jest centrum i kto je założył?", "gdzie jest biuro a jaki ma numer?"; an English "i"
# is the pronoun, an English "a" is never followed by a Polish question word: "a co-founder" is not one)
CLAUSE_END = re.compile(r"[?;,.!+&]|\b(?:and|also|plus|as well as|oraz|a także|także|też|tez|takze|jak również|jak rowniez"
                        r"|a również|a rowniez|ponadto|poza tym)\b"
                        r"|\b[ia] (?=(?:a |czy |jak )?(?:kto|kogo|komu|kiedy|gdzie|jaki|jaka|jakie|jakiego|jakiej|jakim|jakich|jacy|ile|ilu"
                        r"|czy|co|czego|czym|skąd|skad|dlaczego|po co|dla kogo|który|która|które|którego|której|którym|których|ktory|ktora"
                        r"|ktore|ktorego|ktorej|ktorym|ktorych|od kiedy|do kiedy|w jakim|w jakich|w którym|w ktorym|w których|w ktorych"
                        r"|z jakich|z których|z ktorych|na jakiej|na której|na ktorej|pod jakim)\b(?!-))")


# Where one of two alternatives begins ("is it a separate building or part of the university?")
ALTERNATIVE = re.compile(r"\b(?:or|albo|lub|czy też|czy tez)\b", re.IGNORECASE)
# What a message may ask that the page answers: a contact detail or a named institution (wherever they
# stand), a fact of a topic or a place (in a clause of their own, without a detail)
NAMED_ANSWERABLE = ("contact_channel", "institution")
ANSWERABLE = ("aspect", "country")


def asks_only_details(text: str, entities: List[Dict[str, Any]], facts: Optional[Dict[str, Any]] = None) -> bool:
    """True when the message asks a detail the page lacks (a `detail` entity: "who heads the office?", or
    one the words ask: `details_in_words`; with the facts, an institution they do not name: "does UMB work
    with Oxford?") and nothing the page answers beside it: no contact detail or institution it names, and
    no aspect or place in a clause or alternative of its own ("where is the office, which building?", "only
    for staff or for everyone in the academic community?" also ask what the page gives). An aspect or a
    place in the detail's own clause is what the detail is about ("how much are they paid", "when is
    the next summer university", "how much did the European fund give", "do professors come from Oxford")."""
    asked = _outermost([e for e in entities if e.get("entity") not in NOT_ASKED and isinstance(e.get("value"), str)])
    if facts is not None:
        asked = [{**e, "entity": "detail"} if e.get("entity") == "institution" and not on_the_page(facts, e["value"]) else e
                 for e in asked]
    asked += details_in_words(text)
    if not any(e.get("entity") == "detail" for e in asked):
        return False
    if any(e.get("entity") in NAMED_ANSWERABLE for e in asked):
        return False
    ends = sorted(m.start() for pattern in (CLAUSE_END, ALTERNATIVE) for m in pattern.finditer(text))
    parts: Dict[int, set] = {}
    for e in asked:
        parts.setdefault(sum(end <= e.get("start", 0) for end in ends), set()).add(e["entity"])
    return not any(kinds & set(ANSWERABLE) and "detail" not in kinds for kinds in parts.values())


# Words that name a topic only loosely ("partners", "office", "the page"): another topic named beside
# them wins ("the partners of the euroregional center", "what does the page say about the lectures?").
LOOSE_SUBJECTS = ("partnerships", "contact", "last_update")


def _subject(asked: Asked) -> Optional[str]:
    named = asked.get("subject", [])
    specific = [s for s in named if s not in LOOSE_SUBJECTS]
    if named and not specific and asked.get("contact_channel"):
        return "contact"  # "who do I contact to propose a partnership?": a contact detail beside a loose name
    return (specific or named or [None])[0]


def _clause_topic(asked: Asked) -> Optional[str]:
    """The topic a clause names (`subject`), or the one its contact details or aspects belong to."""
    named = _subject(asked)
    if named:
        return named
    if asked.get("contact_channel"):
        return "contact"
    if asked.get("country") and "funding" not in asked.get("aspect", []):
        return "partnerships"  # only the partnerships are told by country; one that pays is a funder ("is the EU paying?")
    return _only_owner(asked.get("aspect", []))


# Aspects that name a thing of a topic (the summer universities, the conferences), not a question word or a
# verb any other subject may have ("who set up the moon base?")
NAMING = frozenset({"events"})


def only_owner(aspects: List[str]) -> Optional[str]:
    """The one topic that has every aspect asked, if only one has (None when none is asked)."""
    return _only_owner(aspects)


def _only_owner(aspects: List[str]) -> Optional[str]:
    """The one topic that has every aspect asked, if only one has."""
    aspects = [a for a in aspects if a not in SOFT]
    owners = [t for t, known in TOPIC_ASPECTS.items() if aspects and all(a in known for a in aspects)]
    return owners[0] if len(owners) == 1 else None


def _merge(into: Asked, clause: Asked) -> None:
    for entity, values in clause.items():
        into.setdefault(entity, []).extend(v for v in values if v not in into.get(entity, []))


def by_topic(text: str, entities: List[Dict[str, Any]], topic: str, current: Optional[str] = None,
             generic: bool = False) -> List[Tuple[str, Asked]]:
    """The message's questions by topic.

    `topic` is the one the intent gives, `current` the conversation's. A message about one topic gets
    one answer: about the topic it names, else the intent's, unless that topic has none of the
    aspects asked and the conversation's topic (or one other topic only) has them ("any summer
    schools?" in a conversation about the center). A message about several gets one per topic.
    """
    ends = [m.start() for m in CLAUSE_END.finditer(text)]
    clauses: List[Asked] = [{} for _ in range(len(ends) + 1)]
    for e in entities:
        # the message's language (the `language` entity) says how to answer, not what is asked
        if isinstance(e.get("value"), str) and e.get("entity") not in NOT_ASKED:
            _merge(clauses[sum(end <= e.get("start", 0) for end in ends)], {e["entity"]: [e["value"]]})
    found: List[Tuple[str, Asked]] = []
    at = topic
    for clause in (c for c in clauses if c):
        at = _clause_topic(clause) or at
        # a clause joins the one before about the same topic, unless one asks a detail the page lacks
        if found and found[-1][0] == at and not (clause.get("detail") or found[-1][1].get("detail")):
            _merge(found[-1][1], clause)
        else:
            found.append((at, dict(clause)))
    if len(found) > 1:
        return found
    everything: Asked = {}
    for clause in clauses:
        _merge(everything, clause)
    named = _subject(everything)
    aspects = everything.get("aspect", [])
    if "last_update" in (named, topic) and named in (None, "last_update") and _asks_beyond_the_page(aspects):
        # the page named (or taken as the question) beside what another topic has: that topic's answer
        owner = next((t for t in (topic, current) if t in TOPIC_ASPECTS and all(a in TOPIC_ASPECTS[t] for a in aspects)), None)
        named = owner or _only_owner(aspects) or named
        if named != "last_update":
            return [(named, everything)]
    if named == "partnerships" and current in ("euroregional_center", "visiting_professors") and not everything.get("country"):
        # "partners?" in a conversation about the center means the center's partners
        return [(current, {**everything, "aspect": [*everything.get("aspect", []), "partners"]})]
    if named in ("euroregional_center", "visiting_professors") and "partnerships" in everything.get("subject", []) \
            and not everything.get("country"):
        # "the partners in the euroregional center": the center's partners
        return [(named, {**everything, "aspect": [*everything.get("aspect", []), "partners"]})]
    if named:
        return [(named, everything)]
    if everything.get("country") and topic != "visiting_professors" and all(
            a in TOPIC_ASPECTS["partnerships"] for a in everything.get("aspect", [])):
        # only the partnerships are told by country or city ("and Kaunas?" after the center's founders);
        # about the visiting professors a region asks where they come from
        return [("partnerships", everything)]
    if topic in TOPIC_ASPECTS and aspects and not any(a in TOPIC_ASPECTS[topic] for a in aspects):
        if generic and topic == current:
            pass  # "since when?" about partnerships: asked of them, which do not say
        elif current in TOPIC_ASPECTS and all(a in TOPIC_ASPECTS[current] for a in aspects):
            topic = current
        else:
            topic = _only_owner(aspects) or topic
    return [(topic, everything)]


# Words that refer back to what was said before ("when was it founded?", "who funds them?").
REFERRING = frozenset({"it", "its", "they", "them", "their", "there", "that", "this", "these", "those",
                       "he", "she", "his", "her",
                       # Polish: it, its, they, them, their, there, that (not "to", "ten", "one": too
                       # common, or English words)
                       "ono", "je", "jego", "jej", "oni", "ich", "nich", "nim", "nimi", "niego", "niej", "tam",
                       "tego", "tej", "tym", "tych", "tamten", "tamto",
                       # her, him (dative), those, from there, the said (not "ja", "nie", "im", "te": "I", "no",
                       # an English typo, too common)
                       "ją", "nią", "jemu", "niemu", "tamci", "tamta", "tamte", "tamtego", "tamtej", "tamtym",
                       "tamtych", "tamtejsze", "tamtejszy", "stamtąd", "stamtad", "tę", "owe", "owych", "ów"})


def refers_back(text: str) -> bool:
    return bool(REFERRING & set(re.findall(r"[^\W\d_]+", text.lower())))


# Words that carry the conversation on ("and for doctoral students too?", "a rezydenci również?")
CONTINUING = re.compile(r"\b(?:too|also|as well|either|też|tez|także|takze|również|rowniez)\b"
                        # or begins as a follow-up does: "and America?", "what about Japan?", "a co z USA?" (not
                        # "i": it is also English "I")
                        r"|^\W*(?:and|what about|how about|a|a co z|a jak z|a jak jest z)\b", re.IGNORECASE)


def continues(text: str) -> bool:
    """The message refers back or carries the conversation on."""
    return refers_back(text) or bool(CONTINUING.search(text))


# The topic that says what the page says of a place or an institution (its partners' regions)
PLACES_TOPIC = "partnerships"


def unsure_topic(facts: Dict[str, Any], text: str, entities: List[Dict[str, Any]], current: Optional[str]) -> Optional[str]:
    """The topic a message the model was unsure of (or took as out of scope) still names, if any: a
    year only one topic's facts hold ("the agreement signed in 2003"); or, when it refers back or
    carries the conversation on ("what did it create?", "and for residents too?"), the conversation's
    topic if that topic has what it asks."""
    years = years_named(facts, text)
    if years:
        return years[0]["value"]
    entities = _outermost(entities)  # "budget" inside "Poland's own budget" is the funder's name, no detail
    if current not in TOPIC_ASPECTS or any(e.get("entity") == "detail" for e in entities):
        return None
    aspects = [e["value"] for e in entities if e.get("entity") == "aspect"]
    if aspects and continues(text) and all(a in TOPIC_ASPECTS[current] for a in aspects):
        return current  # "what did it create?", "and for doctoral students too?"
    names = [e["value"] for e in entities if e.get("entity") == "institution"]
    if names and refers_back(text) and all(on_the_page(facts, n) for n in names):
        return current  # "do students from Grodno train there too?"
    if current == PLACES_TOPIC and continues(text) and any(e.get("entity") == "country" for e in entities):
        return current  # "and America?" after the partners in Japan
    return None



# When or where events were held ("when were they held?", "gdzie się odbywały?"): the page names the
# events but gives neither their dates nor their places, a detail it lacks.
EVENTS_WHEN_WHERE = re.compile(
    r"\b(?:when|where|what dates?|which dates?|what year|which year|in which (?:city|cities|country|place|places)|kiedy|gdzie"
    r"|w jakim mieście|w jakim miescie|w którym mieście|w ktorym miescie|w jakich miastach|w którym roku|w ktorym roku"
    r"|w jakim terminie|w jakich latach)\b"
    r"(?:\s+[^\s?.!;,]+){0,4}?\s+(?:held|take place|took place|takes place|taking place|odbywa\w*|odbyw\w*|odby[łl]\w*|odbęd\w*|odbed\w*)\b",
    re.IGNORECASE)


# "When were they?", "kiedy były?": a plural asks when things happened (events, visits), not when the topic was
# founded; so does "kiedy była?" (a conference; the spelling corrector may make "były" of it)
WHEN_WERE_THEY = re.compile(r"\b(?:when (?:were|are|did|do) (?:they|these|those|the events)(?:\s+(?:happen\w*|held|organi[sz]ed))?"
                            r"|kiedy (?:one |oni |ona )?(?:były|byly|byli|była|byla))\s*(?=$|[?.!,;])", re.IGNORECASE)


def events_when_where(text: str) -> List[Dict[str, Any]]:
    """A `detail` entity where a question asks when or where events were held, or about one edition of
    them ("the first summer school", "pierwsza konferencja"): the page gives neither."""
    when = [*EVENTS_WHEN_WHERE.finditer(text), *WHEN_WERE_THEY.finditer(text)]
    return [{"entity": "detail", "value": "when or where held", "start": m.start()} for m in when] + [
        {"entity": "detail", "value": "which edition", "start": m.start()} for m in EVENT_EDITION.finditer(text)]


# The topics of the lectures or the summer universities ("what are the lectures about?", "tematy wykładów"): the
# page does not give them. (The conferences' topic it gives: "the latest medical science achievements".)
LECTURE_TOPICS = re.compile(
    r"\b(?:topics?|subjects?|themes?|tematy|tematów|tematow|tematyk\w*)\b(?:\s+[^\s?.!;,]+){0,4}?\s+(?:lectures?|talks?|wykład\w*|wyklad\w*"
    r"|summer (?:universit|school)\w*|uniwersytet\w* letni\w*|szko[łl]\w* letni\w*)\b"
    r"|\b(?:lectures?|talks?|wykład\w*|wyklad\w*)\b(?:\s+[^\s?.!;,]+){0,3}?\s+(?:about|cover\w*|dotycz\w*|traktuj\w*)(?=\s*(?:$|[?.!,;]))"
    r"|\b(?:o czym|czego dotycz\w*)\b(?:\s+[^\s?.!;,]+){0,3}?\s+(?:wykład\w*|wyklad\w*)\b", re.IGNORECASE)
# Who signed for one of the parties ("who signed it on behalf of Grodno?", "kto podpisał w imieniu..."): a person,
# whom the page does not name (it names the universities).
SIGNED_FOR = re.compile(r"\b(?:sign\w*|podpis\w*)\b(?:\s+[^\s?.!;,]+){0,6}?\s+(?:on behalf of|in the name of|w imieniu)\b"
                        r"|\b(?:on behalf of|in the name of|w imieniu)\b(?:\s+[^\s?.!;,]+){0,4}?\s+(?:sign\w*|podpis\w*)\b", re.IGNORECASE)


# How much someone pays or something costs, words apart ("how much does the university pay for it?", "a ile
# uczelnia za to płaci?"): the page names the funders, never an amount.
AMOUNT_PAID = re.compile(r"\b(?:how much|ile)\b(?:\s+[^\s?.!;,]+){0,4}?\s+(?:pay|pays|paid|spend\w*|cost|costs|płac\w*|plac\w*"
                         r"|zapłac\w*|zaplac\w*|wyda\w*|koszt\w*)\b", re.IGNORECASE)


def details_in_words(text: str) -> List[Dict[str, Any]]:
    """`detail` entities for what the words ask that no single name says: when or where events were held or
    one edition of them (`events_when_where`), the lectures' topics, who signed for a party, an amount paid."""
    return events_when_where(text) + [{"entity": "detail", "value": value, "start": m.start()}
                                      for value, pattern in (("lecture topics", LECTURE_TOPICS), ("signatory", SIGNED_FOR),
                                                             ("amount", AMOUNT_PAID))
                                      for m in pattern.finditer(text)]


# One edition of the events ("the first summer university", "the last conference", "druga konferencja"): an
# ordinal before an event's name, at most one word between. An ordinal alone asks nothing ("studenci pierwszego roku").
EVENT_EDITION = re.compile(
    r"\b(?:first|second|third|last|latest|most recent|previous|upcoming|pierwsz[aeyąi]\w*|drug[aiąe]\w*|trzeci\w*|ostatni[aemcy]?\w*"
    r"|najnowsz\w*|poprzedni\w*)\s+(?:[^\s?.!;,]+\s+)?"
    r"(?:conferences?|summer (?:universit|school)\w*|editions?|konferencj\w*|uniwersytet\w* letni\w*|szko[łl]\w* letni\w*"
    r"|edycj\w*)", re.IGNORECASE)


YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# where each topic's facts are; the year the page was updated belongs to the page
TOPIC_FACTS = {"contact": "contact", "partnerships": "partnerships", "euroregional_center": "euroregional_center",
               "visiting_professors": "visiting_professors", "last_update": "source.last_updated"}


# reading every topic's facts as text took 0.2 ms a message, up to three times: once per version of the facts
@per_facts_version
def _year_owners(facts: Dict[str, Any]) -> Dict[str, List[str]]:
    """The topics whose facts hold each year."""
    owners: Dict[str, List[str]] = {}
    for topic, path in TOPIC_FACTS.items():
        for year in set(YEAR.findall(str(_fact(facts, path)))):
            owners.setdefault(year, []).append(topic)
    return owners


def years_named(facts: Dict[str, Any], text: str) -> List[Dict[str, Any]]:
    """A year that only one topic's facts hold names that topic ("who signed the 2003 agreement?"):
    a `subject` entity where the year stands. Read from the facts, so a changed fact moves it."""
    owners = _year_owners(facts)
    return [{"entity": "subject", "value": owners[m.group()][0], "start": m.start()}
            for m in YEAR.finditer(text) if len(owners.get(m.group(), [])) == 1]


def after_the_page(facts: Dict[str, Any], text: str) -> List[Dict[str, Any]]:
    """A `detail` entity where a year after the page's last update is named ("conferences in 2031?",
    "still running in 2030?"): the page cannot say anything of it. Read from the facts."""
    updated = YEAR.findall(str(_fact(facts, TOPIC_FACTS["last_update"])))
    if not updated:
        return []
    return [{"entity": "detail", "value": "after the page", "start": m.start()} for m in YEAR.finditer(text)
            if int(m.group()) > int(updated[-1])]


# A bare "number" beside the fax names the fax's number ("can I fax you? what number?"), not the phone's.
BARE_NUMBER = frozenset({"number", "numbers", "no", "nr", "numer", "numeru", "numerem", "numerze", "numery"})


def _bare_number_is_the_fax(text: str, entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    def channel(e: Dict[str, Any], value: str) -> bool:
        return e.get("entity") == "contact_channel" and e.get("value") == value

    if not any(channel(e, "fax") for e in entities):
        return entities
    return [e for e in entities if not (channel(e, "phone") and "end" in e
                                        and text[e.get("start", 0):e["end"]].strip().lower() in BARE_NUMBER)]


# Entities that are names: one inside a longer entity is part of that name
NAMES = ("country", "institution")


def _outermost(entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The entities but a name inside a longer one: "European" (a region) within "European Social
    Fund" (a funder) or "Berlin" within "Charité Berlin" is part of that name, not a question about
    Europe or Berlin. (Other words inside a longer entity still ask: "umowy" in "umowy dwustronne".)"""
    def span(e: Dict[str, Any]) -> Tuple[int, int]:
        start = e.get("start", 0)
        return start, e.get("end", start)
    def inside(e: Dict[str, Any], kinds: Optional[Tuple[str, ...]] = None) -> bool:
        return any((kinds is None or o.get("entity") in kinds) and span(o)[0] <= span(e)[0] and span(e)[1] <= span(o)[1]
                   and span(o) != span(e) for o in entities if o is not e and o.get("entity") not in NOT_ASKED)

    # a detail inside a longer aspect is part of its name too ("budget" in "Poland's national budget", a
    # funder), an aspect inside a longer contact detail ("where" in "where can I ask", the office), and
    # an aspect or detail inside a topic's full name ("Education" in "... Center for Research and Education")
    return [e for e in entities if not (e.get("entity") in NAMES and inside(e) or e.get("entity") in PART_OF
                                        and inside(e, PART_OF[e["entity"]]))]


# Entities that are part of a longer one of these kinds
PART_OF = {"detail": ("aspect", "subject"), "aspect": ("contact_channel", "subject")}


def asked_values(entities: List[Dict[str, Any]], entity: str) -> List[str]:
    """The values of `entity` the message asks (names inside longer names left out)."""
    asked = _outermost([e for e in entities if e.get("entity") not in NOT_ASKED])
    return [e["value"] for e in asked if e.get("entity") == entity and isinstance(e.get("value"), str)]


# Question words alone ("since when?", "how many?", "where?"): they ask of what the conversation is about
QUESTION_WORDS = re.compile(r"(?:(?:since|until|till|from|to) )?(?:when|where|where from|how many|how much|how long|what|which|ile|kiedy"
                            r"|od kiedy|do kiedy|gdzie|skąd|skad)", re.IGNORECASE)


def question_words_only(text: str, entities: List[Dict[str, Any]]) -> bool:
    """True when every aspect the message asks is a bare question word ("since when?"), and it asks one."""
    aspects = [e for e in entities if e.get("entity") == "aspect"]
    return bool(aspects) and all("end" in e and QUESTION_WORDS.fullmatch(text[e.get("start", 0):e["end"]].strip()) for e in aspects)


# "What is it for?", "what does the center do?": its activities (a partnership's are its aim)
WHAT_FOR = re.compile(r"\bwhat(?:'s|\s+is|\s+are|\s+was|\s+were)\b(?:\s+[^\s?.!;,]+){1,5}?\s+for\b(?=\s*(?:$|[?.!,;]|and\b|exactly\b))"
                      r"|\bwhat\s+(?:does|do|did)\b(?:\s+[^\s?.!;,]+){1,5}?\s+do\b", re.IGNORECASE)


def what_for(text: str) -> List[Dict[str, Any]]:
    return [{"entity": "aspect", "value": "activities", "start": m.start()} for m in WHAT_FOR.finditer(text)]


# "How long has it been running?" asks since when, not how long something lasts (a detail the page lacks).
SINCE_WHEN = re.compile(r"\bhow (?:long|many years) (?:has|have|had)\b(?:\s+[^\s?.!;,]+){0,4}?\s+"
                        r"(?:been|existed|exist\w*|run\w*|operat\w*|function\w*|work\w*)\b", re.IGNORECASE)


# "Who are the lectures for?" asks who may attend; "who are the visiting professors?", "who counts as one?"
# who they are: the `who` aspect, which only the professors have (a topic without it answers as if not asked)
WHO_FOR = re.compile(r"\bwho (?:exactly )?(?:is|are|were|was)\b(?:\s+[^\s?.!;,]+){1,5}?\s+(?:for|meant for|intended for|aimed at|open to"
                     r"|directed to|addressed to)(?=\s*(?:$|[?.!,;]|and\b))", re.IGNORECASE)
WHO_ARE = re.compile(r"\bwho\s+(?:exactly\s+)?(?:are|were|counts? as|qualif\w+ as|is considered)\b(?!\s+(?:you|u|we)\b)", re.IGNORECASE)


def _who(text: str, entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    spans = []
    for m in WHO_FOR.finditer(text):
        spans.append((m.start(), m.end()))
        entities = [e for e in entities if not (e.get("entity") == "aspect" and e.get("value") == "description"
                                                and m.start() <= e.get("start", -1) < m.end())]
        entities.append({"entity": "aspect", "value": "audience", "start": m.start(), "end": m.end()})
    return entities + [{"entity": "aspect", "value": "who", "start": m.start(), "end": m.end()} for m in WHO_ARE.finditer(text)
                       if not any(a <= m.start() < b for a, b in spans)]


def _since_when(text: str, entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    for m in SINCE_WHEN.finditer(text):
        entities = [e for e in entities if not (e.get("entity") == "detail" and m.start() <= e.get("start", -1) < m.end())]
        entities.append({"entity": "aspect", "value": "founding", "start": m.start(), "end": m.end()})
    return entities


# Topics about a party other than the office (the center, the visiting professors), whose own contact details
# the page does not give
OTHER_PARTIES = ("euroregional_center", "visiting_professors")


def _names_the_office(entities: List[Dict[str, Any]]) -> bool:
    return "office" in asked_values(entities, "contact_channel") or "contact" in asked_values(entities, "subject")


def answer(facts: Dict[str, Any], text: str, entities: List[Dict[str, Any]], topic: str,
           current: Optional[str] = None) -> Tuple[Answer, str]:
    """The answer to a message understood as being about `topic` (in a conversation about
    `current`), and the topic it ends on."""
    result: Answer = []
    if topic == "contact" and current in OTHER_PARTIES and refers_back(text) and not _names_the_office(entities):
        return dont_know(facts, current), current  # "and its e-mail?" after the center: the page gives the office's only
    entities = _since_when(text, _bare_number_is_the_fax(text, _outermost([e for e in entities if e.get("entity") not in NOT_ASKED])))
    entities = _who(text, entities)
    generic = question_words_only(text, entities)
    found = years_named(facts, text) + details_in_words(text) + after_the_page(facts, text) + what_for(text)
    for asked_topic, asked in by_topic(text, entities + found, topic, current, generic):
        given = ANSWERS[asked_topic](facts, lambda entity: asked.get(entity, []))
        result += [line for line in given if line not in result]  # two clauses lacking details: one honest reply
        topic = _topic_after(given, asked_topic)
    return result, topic
