"""Which answer to give: picks the response (wording, in domain.yml) and fills it from the facts.

Pure functions of (facts, what the user asked), so they are easy to test and to read. An answer is
a list of (response name, template variables) pairs; the actions send them.
"""
from typing import Any, Dict, Iterable, List, Optional, Tuple

Answer = List[Tuple[str, Dict[str, str]]]

# The aspects each topic can answer, in the order they are given when several are asked at once.
CENTER_ASPECTS = ("founding", "location", "activities", "events")
PROFESSOR_ASPECTS = ("audience", "programme", "funding", "count", "origin")
CONTACT_CHANNELS = ("phone", "fax", "email", "address")
# "Where are they from?" about the professors means their institutions, not a location.
PROFESSOR_ALIASES = {"location": "origin"}


def join(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c' — how the page itself lists things."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def contact_vars(facts: Dict[str, Any]) -> Dict[str, str]:
    """Everything about the office, for any response that tells where to write or call."""
    c = facts["contact"]
    return {
        "office": c["office"],
        "office_full_name": c["office_full_name"],
        **c["address"],
        "phone": c["phone"],
        "fax": c["fax"],
        "email": c["email"],
    }


def contact(facts: Dict[str, Any], channels: List[str]) -> Answer:
    """One line per channel asked for; the full card when none (or the office itself) is asked."""
    values = contact_vars(facts)
    if "office" in channels:
        return [("utter_contact_partnership_requests", values)]
    asked = [c for c in CONTACT_CHANNELS if c in channels]
    if not asked:
        return [("utter_contact_card", values)]
    return [(f"utter_contact_{c}", values) for c in asked]


def _partnership_vars(facts: Dict[str, Any]) -> Dict[str, str]:
    p = facts["partnerships"]
    return {**contact_vars(facts), "aim": p["aim"], "agreements": p["agreements"], "regions": join(p["regions"])}


def _center_vars(facts: Dict[str, Any]) -> Dict[str, str]:
    c = facts["euroregional_center"]
    return {
        "center_name": c["name"],
        "founded": c["founded"],
        "founding_partners": join(c["founding_partners"]),
        "location": c["location"],
        "role": c["role"],
        "events": join(c["events"]),
    }


def _professor_vars(facts: Dict[str, Any]) -> Dict[str, str]:
    v = facts["visiting_professors"]
    return {
        "audience": v["audience"],
        "description": v["description"],
        "programme": v["programme"],
        "funders": join(v["funders"]),
        "operational_programme": v["operational_programme"],
        "per_year": v["per_year"],
        "home_institutions": join(v["home_institutions"]),
    }


def _find(name: str, names: Iterable[str]) -> Optional[str]:
    """The facts' spelling of `name`, compared without case."""
    return next((n for n in names if n.lower() == name.lower()), None)


def partnerships(facts: Dict[str, Any], institutions: List[str], regions: List[str], aspects: List[str]) -> Answer:
    """What the page says about the partners asked for; honest 'I don't know' for the rest."""
    values = _partnership_vars(facts)
    answer: Answer = []
    for name in institutions:
        partner = _find(name, facts["euroregional_center"]["founding_partners"])
        visitor = _find(name, facts["visiting_professors"]["home_institutions"])
        if partner:
            answer.append(("utter_partnerships_center_partner", {**_center_vars(facts), "institution": partner}))
        elif visitor:
            answer.append(("utter_partnerships_visiting_institution", {**values, "institution": visitor}))
    for name in regions:
        known = _find(name, facts["partnerships"]["regions"])
        if known:
            answer.append(("utter_partnerships_region", {**values, "region": known}))
        else:
            answer.append(("utter_partnerships_region_unknown", {**values, "region": name}))
    if answer:
        return answer
    if "aim" in aspects:
        return [("utter_partnerships_aim", values)]
    return [("utter_partnerships_overview", values)]


def _by_aspect(prefix: str, known: Tuple[str, ...], aspects: List[str], values: Dict[str, str]) -> Answer:
    asked = [a for a in known if a in aspects]
    return [(f"{prefix}_{a}", values) for a in asked] or [(f"{prefix}_overview", values)]


def euroregional_center(facts: Dict[str, Any], aspects: List[str]) -> Answer:
    return _by_aspect("utter_center", CENTER_ASPECTS, aspects, _center_vars(facts))


def visiting_professors(facts: Dict[str, Any], aspects: List[str]) -> Answer:
    aspects = [PROFESSOR_ALIASES.get(a, a) for a in aspects]
    return _by_aspect("utter_professors", PROFESSOR_ASPECTS, aspects, _professor_vars(facts))


def last_update(facts: Dict[str, Any]) -> Answer:
    s = facts["source"]
    return [("utter_last_update", {**contact_vars(facts), "source_title": s["title"], "last_updated": s["last_updated"]})]
