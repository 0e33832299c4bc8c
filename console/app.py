"""The staff console's web app (Sanic, server-rendered Jinja2 pages, no JavaScript).

Every page but the sign-in page (and its style sheet) needs a session; every POST needs the CSRF
token of its session (the sign-in form: of its own pre-session cookie). Pages are rendered with
autoescaping on, so a message typed by anyone on the internet is shown as text, never as HTML, and
the Content-Security-Policy allows no script at all, as a second line of defence. Each saved file is
versioned (staff.versioning): a patch kept for the Changes page, and a git commit in a checkout.
"""
import asyncio
import datetime
import functools
import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from jinja2 import Environment, FileSystemLoader
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.answers import PLACEHOLDERS
from actions.facts import FactsError, parse as parse_facts
from channels.limits import client_address
from console import conversations as talks, inbox
from console.auth import Throttle, check_password, keyed, new_token, same
from console.pipeline import Pipeline
from console.settings import Settings
from console.store import Audit, Store
from staff.answers_edit import WordingRefused, save_wording, wordings
from staff.check import CODE_VARIABLES
from staff.examples import ExampleRefused, add_example, intent_blocks
from rasa_addons.logs import pseudonymizer
from staff.facts_edit import _yaml, editable_fields, save, value_of
from staff.retention import delete as delete_conversations
from staff.train import MODEL, ROOT as PROJECT, Switch, reload_all
from staff.versioning import Changes, commit_file

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "staff_session"
SIGNIN_COOKIE = "staff_signin"
PUBLIC = {"/login", "/static/console.css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
CONVERSATIONS_SHOWN = 100  # at most, newest first: a search narrows them down
# how a value not in its form is explained, by the fact's name (the schema's pattern is for programmers)
FORMS = {
    # the examples are made up: a fact lives only in data/facts.yml
    "phone": "a phone number: digits, spaces, + ( ) and -, at least 6, e.g. +48 85 123 45 67",
    "fax": "a fax number: digits, spaces, + ( ) and -, at least 6, e.g. +48 85 123 45 68",
    "email": "an e-mail address, e.g. office@example.edu",
}


def facts_error_text(error: FactsError) -> str:
    """A FactsError in the words of the form: which field, and why."""
    name = (error.field or "").rsplit(".", 1)[-1]
    if error.kind == "malformed":
        return f"{error.field}: this is not {FORMS.get(name, 'in the form this fact needs')}."
    if error.kind == "empty":
        return f"{error.field}: this fact cannot be empty."
    return f"{error.field}: {error.problem}" if error.field else error.problem


def day_or(text: Optional[str], default: str) -> str:
    """An ISO date from a form (YYYY-MM-DD), or `default` when it is not one."""
    try:
        return datetime.date.fromisoformat(text or "").isoformat()
    except ValueError:
        return default


def start_of(day: str) -> float:
    """Unix time of the day's first second, local time."""
    return time.mktime(datetime.date.fromisoformat(day).timetuple())


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colours in a tool's output: noise in a page


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text(path: Path) -> Optional[str]:
    """A file's text exactly as stored (line endings kept, for its patch); None when it does not exist."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _texts_digest(texts: List[str]) -> str:
    """Which version of a response's wording a form was made from."""
    return hashlib.sha256(json.dumps(texts).encode()).hexdigest()


class Console:
    """The app's state: settings, its database and audit log, the sign-in throttle, flash messages."""

    def __init__(self, settings: Settings, tracker_url: str, fallback: str) -> None:
        self.settings, self.tracker_url, self.fallback = settings, tracker_url, fallback
        self.store = Store(settings.db)
        self.audit = Audit(settings.audit_log)
        self.throttle = Throttle(settings.login_limit, settings.login_window)
        self.flashes: Dict[str, Tuple[str, str]] = {}
        self.templates = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True)
        self.templates.filters["plain"] = lambda line: ANSI.sub("", line)
        # sender id -> pseudonym: the servers' own (LOG_PSEUDONYM_KEY), so a log line points to its conversation
        self.pseudonym = pseudonymizer()
        self.changes = Changes(settings.db)
        self.saving = asyncio.Lock()  # one save at a time: each patch applies on top of the one before
        self.switched: Optional[Switch] = None  # the last run's switch, instance by instance
        self.pipeline = Pipeline(self.switch, cwd=str(PROJECT))

    def switch(self) -> bool:
        """The pipeline's last step: every Rasa server of RASA_URLS to the new model; True only when all took it."""
        self.switched = reload_all(self.settings.rasa_urls, self.settings.rasa_token, PROJECT / MODEL)
        return bool(self.switched)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """Blocking work (hashing, reading the store, writing files) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))

    def repo_name(self, path: Path) -> str:
        """The saved file's path in the repository (data/facts.yml, domain.yml, data/nlu/...), wherever
        this deployment keeps it, so that its patch applies to a checkout."""
        s = self.settings
        for where, name in ((s.facts, "data/facts.yml"), (s.domain, "domain.yml")):
            if path.resolve() == where.resolve():
                return name
        for folder, name in ((s.nlu_dir, "data/nlu"), (PROJECT, "")):
            if path.resolve().is_relative_to(folder.resolve()):
                return "/".join(filter(None, [name, path.resolve().relative_to(folder.resolve()).as_posix()]))
        return path.name

    async def version(self, path: Path, before: Optional[str], who: str, message: str) -> Optional[str]:
        """Keep the saved file's change as a patch (the Changes page) and, unless STAFF_GIT_COMMITS is
        off, as a git commit of its own by `who` (staff.versioning); the commit's id, None when not
        committed (not a git checkout). Called under `saving`, with the file's text before the save."""
        after, message = _text(path) or "", f"Staff console: {message}"
        if after == before:
            return None
        change = await self.run(self.changes.add, before, after, self.repo_name(path), who, message)
        commit = await self.run(commit_file, path, who, message) if self.settings.git_commits else None
        if commit:
            await self.run(self.changes.set_commit, change, commit)
        return commit

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTTPResponse:
        token = getattr(request.ctx, "token", None)
        flash = self.flashes.pop(request.ctx.session_key, None) if getattr(request.ctx, "session_key", None) else None
        html = self.templates.get_template(template).render(
            user=getattr(request.ctx, "user", None), csrf=keyed(self.settings.secret, "csrf", token) if token else "",
            flash=flash, page=template.split(".")[0], **values)
        return response.html(html, status=status)

    def flash(self, request: Request, kind: str, text: str) -> None:
        self.flashes[request.ctx.session_key] = (kind, text)

    def cookie(self, resp: HTTPResponse, name: str, value: str, max_age: int) -> None:
        resp.cookies[name] = value
        cookie = resp.cookies[name]
        cookie["httponly"] = True
        cookie["samesite"] = "Strict"
        cookie["path"] = "/"
        cookie["max-age"] = max_age
        if self.settings.secure_cookies:
            cookie["secure"] = True

    def address(self, request: Request) -> str:
        return client_address(request.ip, request.headers.get("x-forwarded-for"), self.settings.proxies)


def create_app(console: Console, name: str = "staff_console") -> Sanic:
    app = Sanic(name, configure_logging=False)  # its records go to the process's logging (rasa_addons.logs)
    app.ctx.console = c = console
    s = c.settings
    app.static("/static/console.css", str(HERE / "static" / "console.css"), name="css")

    @app.middleware("request")
    async def require_session(request: Request) -> Optional[HTTPResponse]:
        """No page without a session, no POST without its CSRF token."""
        token = request.cookies.get(SESSION_COOKIE)
        request.ctx.token = request.ctx.user = request.ctx.session_key = None
        if token:
            key = keyed(s.secret, "session", token)
            user = c.store.session_user(key)
            if user:
                request.ctx.token, request.ctx.user, request.ctx.session_key = token, user, key
        if request.path in PUBLIC:
            return None
        if request.ctx.user is None:
            if request.method in ("GET", "HEAD"):
                return response.redirect("/login", status=303)
            return response.text("Sign in first.", status=403)
        if request.method not in ("GET", "HEAD") and not same(request.form.get("csrf"), keyed(s.secret, "csrf", request.ctx.token)):
            logger.warning("POST %s by %s refused: missing or wrong CSRF token", request.path, request.ctx.user)
            return response.text("This form is out of date or did not come from the console: reload the page and try again.", status=403)
        return None

    @app.middleware("response")
    async def security_headers(request: Request, resp: HTTPResponse) -> None:
        for header, value in HEADERS.items():
            resp.headers.setdefault(header, value)

    @app.get("/")
    async def home(request: Request) -> HTTPResponse:
        return response.redirect("/inbox", status=303)

    # --- sign-in ------------------------------------------------------------------------------
    def signin_page(request: Request, status: int = 200, error: str = "", name: str = "") -> HTTPResponse:
        pre = request.cookies.get(SIGNIN_COOKIE) or new_token()
        resp = c.render(request, "login.html", status, error=error, name=name, signin_csrf=keyed(s.secret, "signin", pre))
        c.cookie(resp, SIGNIN_COOKIE, pre, 3600)
        return resp

    @app.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        if request.ctx.user:
            return response.redirect("/inbox", status=303)
        return signin_page(request)

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        pre = request.cookies.get(SIGNIN_COOKIE)
        if not pre or not same(request.form.get("csrf"), keyed(s.secret, "signin", pre)):
            return signin_page(request, 403, "The sign-in form was out of date: please try again.")
        name = (request.form.get("name") or "").strip()
        password = request.form.get("password") or ""
        address = c.address(request)
        wait = max(c.throttle.wait(f"account:{name.lower()}"), c.throttle.wait(f"address:{address}", 4 * s.login_limit))
        if wait > 0:
            c.audit.record(name or "(no name)", "sign-in throttled", address=address)
            return signin_page(request, 429, f"Too many failed sign-ins: please wait {max(1, round(wait / 60))} minute(s) and try again.", name)
        ok = await c.run(check_password, c.store.password_hash(name) if name else None, password)
        if not ok:
            c.throttle.fail([f"account:{name.lower()}", f"address:{address}"])
            c.audit.record(name or "(no name)", "sign-in refused", address=address)
            return signin_page(request, 401, "Wrong name or password.", name)
        c.throttle.clear(f"account:{name.lower()}")
        token = new_token()
        c.store.add_session(keyed(s.secret, "session", token), name, time.time() + s.session_hours * 3600)
        c.audit.record(name, "signed in", address=address)
        resp = response.redirect("/inbox", status=303)
        c.cookie(resp, SESSION_COOKIE, token, int(s.session_hours * 3600))
        del resp.cookies[SIGNIN_COOKIE]
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        c.store.end_session(request.ctx.session_key)
        c.audit.record(request.ctx.user, "signed out")
        resp = response.redirect("/login", status=303)
        del resp.cookies[SESSION_COOKIE]
        return resp

    # --- the inbox ----------------------------------------------------------------------------
    @app.get("/inbox")
    async def inbox_page(request: Request) -> HTTPResponse:
        items = await c.run(inbox.load, c.tracker_url, c.fallback, s.inbox_days, s.min_confidence, c.store.reviewed_keys())
        intents = sorted(intent_blocks(s.nlu_dir))
        return c.render(request, "inbox.html", items=items, intents=intents, days=s.inbox_days,
                        reviewed=c.store.recently_reviewed())

    @app.post("/inbox/review")
    async def review(request: Request) -> HTTPResponse:
        text = " ".join((request.form.get("text") or "").split())
        verdict = request.form.get("verdict")
        intent = {"label": request.form.get("intent"), "out_of_scope": "out_of_scope"}.get(verdict or "")
        if not text or verdict not in ("label", "out_of_scope", "ignore") or (verdict != "ignore" and not intent):
            return response.text("Incomplete form: reload the inbox and try again.", status=400)
        if verdict != "ignore":
            language = request.form.get("language") if request.form.get("language") in ("en", "pl") else None
            async with c.saving:
                before = {p: _text(p) for p in s.nlu_dir.rglob("*.yml")}  # the file it goes to is known after
                try:
                    path, line = await c.run(add_example, s.nlu_dir, intent, text, language)
                except ExampleRefused as e:
                    c.flash(request, "error", f"Not added: {e}")
                    return response.redirect("/inbox", status=303)
                commit = await c.version(path, before.get(path), request.ctx.user, f"example of {intent} added")
            c.audit.record(request.ctx.user, "example added", intent=intent, text=text, file=path.name, line=line, commit=commit)
            c.flash(request, "ok", f"“{text}” added as an example of {intent} ({path.name}, line {line}). "
                                   "The assistant learns it at the next training.")
        else:
            c.audit.record(request.ctx.user, "message ignored", text=text)
            c.flash(request, "ok", f"“{text}” ignored.")
        c.store.mark_reviewed(inbox.key_of(text), text, verdict, intent, request.ctx.user)
        return response.redirect("/inbox", status=303)

    # --- the facts ----------------------------------------------------------------------------
    def facts_page(request: Request, status: int = 200, values: Optional[Dict[str, Any]] = None,
                   error: str = "", error_field: str = "") -> HTTPResponse:
        doc = _yaml().load(s.facts.read_text(encoding="utf-8"))
        fields = [(f, (values or {}).get(f.path, value_of(doc, f.path))) for f in editable_fields()]
        sections: Dict[str, List[Any]] = {}
        for f, value in fields:
            sections.setdefault(f.path.split(".")[0], []).append((f, value))
        return c.render(request, "facts.html", status, sections=sections, base=_digest(s.facts), error=error,
                        error_field=error_field, history=c.store.fact_changes())

    @app.get("/facts")
    async def facts_form(request: Request) -> HTTPResponse:
        return facts_page(request)

    def submitted(request: Request) -> Dict[str, Union[str, List[str]]]:
        values: Dict[str, Union[str, List[str]]] = {}
        for f in editable_fields():
            raw = request.form.get(f.path)
            if raw is not None:
                values[f.path] = [line.strip() for line in raw.splitlines() if line.strip()] if f.is_list else raw.strip()
        return values

    async def change_facts(request: Request, values: Dict[str, Any], undoes: Optional[int] = None) -> List[str]:
        """Save, then record each change in the history and the audit log; raises FactsError."""
        async with c.saving:
            text = _text(s.facts) or ""
            doc = _yaml().load(text)
            before = {field: value_of(doc, field) for field in values}
            changed = await c.run(save, s.facts, values, request.ctx.user, datetime.date.today())
            commit = await c.version(s.facts, text, request.ctx.user,
                                     f"{', '.join(changed)} {'undone' if undoes else 'changed'}") if changed else None
        for field in changed:
            c.store.add_fact_change(field, before[field], values[field], request.ctx.user, undoes)
            c.audit.record(request.ctx.user, "fact undone" if undoes else "fact changed", field=field,
                           old=before[field], new=values[field], commit=commit, **({"undoes": undoes} if undoes else {}))
        return changed

    @app.post("/facts")
    async def facts_save(request: Request) -> HTTPResponse:
        values = submitted(request)
        if request.form.get("base") != _digest(s.facts):
            return facts_page(request, 409, values, "The facts were changed by someone else meanwhile: the form now shows "
                                                    "their version. Make your change again.")
        try:
            changed = await change_facts(request, values)
        except FactsError as e:
            return facts_page(request, 422, values, f"Not saved: {facts_error_text(e)}", e.field or "")
        c.flash(request, "ok", f"Saved: {', '.join(changed)}. The assistant answers with the new facts from the next message."
                if changed else "Nothing changed.")
        return response.redirect("/facts", status=303)

    @app.post("/facts/undo")
    async def facts_undo(request: Request) -> HTTPResponse:
        change = c.store.fact_change(int(request.form.get("change") or 0)) if (request.form.get("change") or "").isdigit() else None
        if change is None or change["undone_by"] is not None:
            c.flash(request, "error", "That change does not exist or was undone already.")
            return response.redirect("/facts", status=303)
        current = value_of(_yaml().load(s.facts.read_text(encoding="utf-8")), change["field"])
        if current != change["new"]:
            c.flash(request, "error", f"{change['field']} was changed again since: undo the later change first.")
            return response.redirect("/facts", status=303)
        try:
            await change_facts(request, {change["field"]: change["old"]}, undoes=change["id"])
        except FactsError as e:
            c.flash(request, "error", f"Not undone: {facts_error_text(e)}")
            return response.redirect("/facts", status=303)
        c.flash(request, "ok", f"Undone: {change['field']} is back to its earlier value.")
        return response.redirect("/facts", status=303)

    # --- check, train, test, switch -----------------------------------------------------------
    @app.get("/model")
    async def model_page(request: Request) -> HTTPResponse:
        switch = c.switched if c.pipeline.run is not None and not c.pipeline.run.running else None
        return c.render(request, "model.html", run=c.pipeline.run, can_switch=bool(s.rasa_token), switch=switch,
                        instances=s.rasa_urls)

    @app.post("/model/run")
    async def model_run(request: Request) -> HTTPResponse:
        if c.pipeline.start(request.ctx.user):
            c.switched = None
            c.audit.record(request.ctx.user, "training started")
            c.pipeline.task.add_done_callback(lambda _: c.audit.record(
                c.pipeline.run.by, "training finished", result=c.pipeline.run.state,
                **({"switched": c.switched.switched, "not_switched": c.switched.failed} if c.switched is not None else {})))
        else:
            c.flash(request, "error", f"A run started by {c.pipeline.run.by} is still going: its progress is below.")
        return response.redirect("/model", status=303)

    # --- the answers (responses in domain.yml) -------------------------------------------------
    def answers_page(request: Request, status: int = 200, error: str = "", name: str = "",
                     texts: Optional[List[str]] = None) -> HTTPResponse:
        responses = []
        for n, variants in wordings(s.domain):
            current = [text for _, text in variants]
            shown = texts if n == name and texts is not None and len(texts) == len(current) else current
            responses.append((n, [(when, text) for (when, _), text in zip(variants, shown)], _texts_digest(current)))
        return c.render(request, "answers.html", status, responses=responses, error=error, error_name=name,
                        placeholders=sorted(PLACEHOLDERS), code_variables=CODE_VARIABLES)

    @app.get("/answers")
    async def answers_form(request: Request) -> HTTPResponse:
        return answers_page(request)

    @app.post("/answers")
    async def answers_save(request: Request) -> HTTPResponse:
        name, texts = request.form.get("name") or "", request.form.getlist("text") or []
        variants = dict(wordings(s.domain)).get(name)
        if variants is None or request.form.get("base") != _texts_digest([text for _, text in variants]):
            return answers_page(request, 409, "This answer was changed by someone else meanwhile: the form now shows "
                                              "their wording. Make your change again.", name)
        async with c.saving:
            before = _text(s.domain)
            try:
                changed = await c.run(save_wording, s.domain, name, texts, PROJECT, s.facts)
            except WordingRefused as e:
                return answers_page(request, 422, f"Not saved: {e}", name, texts)
            commit = await c.version(s.domain, before, request.ctx.user, f"wording of {name} changed") if changed else None
        for old, new in changed:
            c.audit.record(request.ctx.user, "answer changed", response=name, old=old, new=new, commit=commit)
        c.flash(request, "ok", f"Saved: {name}. The assistant uses the new wording after the next training "
                               "(Check, train, test, switch)." if changed else "Nothing changed.")
        return response.redirect("/answers", status=303)

    # --- conversations ------------------------------------------------------------------------
    def period(request: Request) -> Tuple[str, str]:
        """The days asked for (from, to; ISO), by default the inbox's period up to today."""
        default = (datetime.date.today() - datetime.timedelta(days=s.inbox_days)).isoformat()
        return day_or(request.args.get("from"), default), day_or(request.args.get("to"), "")

    async def stored(first: str) -> List[talks.Conversation]:
        return talks.conversations(await c.run(inbox.stored_events, c.tracker_url, start_of(first)), c.pseudonym)

    @app.get("/conversations")
    async def conversations_page(request: Request) -> HTTPResponse:
        first, last = period(request)
        text, channel = (request.args.get("q") or "").strip(), request.args.get("channel") or ""
        found = await stored(first)
        shown = talks.search(found, text, channel, first, last)
        return c.render(request, "conversations.html", conversations=shown[:CONVERSATIONS_SHOWN], total=len(shown),
                        channels=talks.channels(found), q=text, channel=channel, first=first, last=last)

    @app.get("/conversations/view")
    async def conversation_page(request: Request) -> HTTPResponse:
        first, last = period(request)
        conversation = talks.find(await stored(first), request.args.get("c") or "")
        if conversation is None:
            c.flash(request, "error", f"No such conversation since {first}: it was deleted, or is older (search from an earlier day).")
            return response.redirect("/conversations", status=303)
        return c.render(request, "conversation.html", conversation=conversation, first=first, last=last)

    @app.post("/conversations/delete")
    async def conversation_delete(request: Request) -> HTTPResponse:
        """A person's request (GDPR art. 17): their whole conversation, by staff.retention's own code."""
        wanted = request.form.get("c") or ""
        if request.form.get("confirm") != "yes":
            c.flash(request, "error", "Not deleted: tick the box to confirm that the whole conversation is to be deleted.")
            return response.redirect(f"/conversations/view?c={wanted}" if wanted.isalnum() else "/conversations", status=303)
        sender = await c.run(talks.sender_of, c.tracker_url, c.pseudonym, wanted)
        if sender is None:
            c.flash(request, "error", "Not deleted: there is no such conversation (deleted already?).")
            return response.redirect("/conversations", status=303)
        events, _ = await c.run(functools.partial(delete_conversations, c.tracker_url, sender=sender))
        c.audit.record(request.ctx.user, "conversation deleted", conversation=wanted, events=events)
        c.flash(request, "ok", f"Conversation {wanted} deleted: {events} messages and events, nothing of it is kept.")
        return response.redirect("/conversations", status=303)

    # --- insights -----------------------------------------------------------------------------
    @app.get("/insights")
    async def insights_page(request: Request) -> HTTPResponse:
        days = request.args.get("days") or ""
        days_back = int(days) if days.isdigit() and 0 < int(days) <= 3660 else int(s.inbox_days)
        events = await c.run(inbox.stored_events, c.tracker_url, time.time() - days_back * 86400)
        found = talks.insights(events, c.pseudonym, c.fallback, s.min_confidence)
        return c.render(request, "insights.html", insights=found, days=days_back)

    # --- changes: each saved file as a patch (versioning without git) ------------------------
    @app.get("/changes")
    async def changes_page(request: Request) -> HTTPResponse:
        listed = await c.run(c.changes.listed)
        return c.render(request, "changes.html", changes=listed[::-1], git_commits=s.git_commits,
                        since=listed[0]["when"][:10] if listed else datetime.date.today().isoformat())

    @app.get("/changes/patch")
    async def changes_patch(request: Request) -> HTTPResponse:
        """One change (?id=) or all from a day on (?since=YYYY-MM-DD), oldest first, as one patch file
        for `git am`, `git apply` or `patch -p1` in the repository."""
        wanted, since = request.args.get("id") or "", day_or(request.args.get("since"), "")
        if wanted.isdigit():
            found, name = await c.run(functools.partial(c.changes.listed, change_id=int(wanted))), f"umb-change-{wanted}.patch"
        elif since:
            found, name = await c.run(c.changes.listed, start_of(since)), f"umb-changes-since-{since}.patch"
        else:
            return response.text("Say which change (id) or from which day (since, YYYY-MM-DD).", status=400)
        if not found:
            return response.text("No change saved in the console matches: nothing to download.", status=404)
        return response.text("".join(change["patch"] for change in found), content_type="text/x-diff; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return app


def check_facts_file(settings: Settings) -> None:
    """The facts file must be readable at start: the console would show no form otherwise."""
    parse_facts(settings.facts)
