/*
 * UMB cooperation assistant: chat widget for a web page, talking to Rasa's socket.io channel.
 *
 * Embed with one tag (see docs/WIDGET.md):
 *   <script src="https://ASSISTANT/web/widget.js" data-title="..." data-initial-payload="/greet" defer></script>
 * Options (data-* attributes of that tag):
 *   data-server           the assistant's URL (default: where widget.js comes from)
 *   data-title            the chat window's title
 *   data-initial-payload  sent (hidden) when a visitor opens the chat for the first time, so that
 *                         the bot greets; empty for none
 *   data-storage          "local" (default: the conversation is kept across tabs and visits) or
 *                         "session" (kept in this tab only)
 *   data-lang             "en" or "pl": the language of the widget's own texts (default: the page's
 *                         <html lang>, English unless it is Polish). On a Polish page the greeting
 *                         asks for Polish answers too: "/greet" is sent as /greet{"language":"pl"}.
 *
 * The widget lives in a Shadow DOM with its own stylesheet in px, so the host page's CSS neither
 * reaches it nor resizes it. Every text is rendered as text: only line breaks and links are made
 * from it, with DOM text nodes, never innerHTML. Messages not yet confirmed by the server stay in
 * an outbox kept in storage and are sent again after a reconnect or a reload unless the history
 * shows them.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = new URL(".", script.src);
  var data = script.dataset;
  var lang = /^pl\b/i.test(data.lang || document.documentElement.lang || "") ? "pl" : "en";
  var initialPayload = data.initialPayload === undefined ? "/greet" : data.initialPayload;
  if (lang === "pl" && /^\/\w+$/.test(initialPayload)) {
    // the answers' language is the `language` slot: set it with the greeting (an intent's payload)
    initialPayload += JSON.stringify({ language: "pl" });
  }
  var cfg = {
    server: (data.server || base.origin).replace(/\/+$/, ""),
    title: data.title || (lang === "pl" ? "Czat" : "Chat"),
    initialPayload: initialPayload,
    storage: data.storage === "session" ? "sessionStorage" : "localStorage",
    lang: lang,
  };
  var STORAGE_KEY = "umb-chat:" + cfg.server;
  // The server does not read a message longer than this (MAX_MESSAGE_CHARS in rasa_addons/channels.py).
  var MAX_CHARS = 1000;
  var NEAR_LIMIT = 800; // from here on, the visitor sees how many characters are left
  // A message the server has not confirmed receiving by then is marked "Not sent yet" and the
  // connection is taken for lost (socket.io itself would only notice after ~45 s of silence).
  var RECEIPT_TIMEOUT_MS = 3000;
  var FEEDBACK_TIMEOUT_MS = 8000;
  var LINK = /(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)'"]|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
  /** Polish plural of a count: 1 znak, 2-4 znaki (not 12-14), else znaków. */
  function plural(n, one, few, many) {
    var tens = n % 100;
    return n === 1 ? one : n % 10 >= 2 && n % 10 <= 4 && (tens < 12 || tens > 14) ? few : many;
  }

  // The widget's own texts, in the page's language (the bot's answers come in the conversation's).
  var TEXTS = {
    en: {
      connecting: "Connecting…",
      lost: "Connection lost, reconnecting… Messages you send now will be sent when it is back.",
      offline: "You are offline. Messages you send now will be sent when the connection is back.",
      unreachable: "Cannot reach the assistant, retrying… Messages you send now will be sent when it is back.",
      refused: "This site is not allowed to use the assistant. The site's editor must add its address (" +
        location.origin + ") to CORS_ORIGINS in the assistant's settings.",
      notSent: "Not sent yet: it will be sent when the connection is back.",
      tooMany: function (seconds) {
        return "Too many connections from your address: trying again in " + seconds +
          " s. Messages you send now will be sent then.";
      },
      launcher: "Chat with us",
      close: "Close chat",
      tryAgain: "Try again",
      conversation: "Conversation",
      yourMessage: "Your message",
      placeholder: "Type your question…",
      send: "Send",
      assistant: "Assistant: ",
      you: "You: ",
      suggested: "Suggested questions",
      helpful: "Helpful",
      notHelpful: "Not helpful",
      wasItHelpful: "Was this answer helpful?",
      feedbackNoConnection: "Your feedback could not be sent: there is no connection to the assistant.",
      notSentNoConnection: "Not sent: no connection",
      notSentShort: "Not sent",
      feedbackFailed: "Your feedback could not be sent",
      thanks: "Thank you for your feedback.",
      tooLong: function (over, max) {
        return over + " characters too long: messages can have up to " + max + " characters.";
      },
      left: function (n, max) { return n + " of " + max + " characters left"; },
      notSentBecause: "Not sent: ",
    },
    pl: {
      connecting: "Łączenie…",
      lost: "Połączenie zostało przerwane, trwa ponowne łączenie… Wiadomości napisane teraz zostaną wysłane po jego przywróceniu.",
      offline: "Brak połączenia z internetem. Wiadomości napisane teraz zostaną wysłane po przywróceniu połączenia.",
      unreachable: "Nie można połączyć się z asystentem, trwa ponowna próba… Wiadomości napisane teraz zostaną wysłane po przywróceniu połączenia.",
      refused: "Ta strona nie ma dostępu do asystenta. Redaktor strony musi dodać jej adres (" +
        location.origin + ") do CORS_ORIGINS w ustawieniach asystenta.",
      notSent: "Jeszcze nie wysłano: wiadomość zostanie wysłana po przywróceniu połączenia.",
      tooMany: function (seconds) {
        return "Zbyt wiele połączeń z tego adresu: ponowna próba za " + seconds +
          " s. Wiadomości napisane teraz zostaną wtedy wysłane.";
      },
      launcher: "Czat z asystentem",
      close: "Zamknij czat",
      tryAgain: "Spróbuj ponownie",
      conversation: "Rozmowa",
      yourMessage: "Treść wiadomości",
      placeholder: "Proszę wpisać pytanie…",
      send: "Wyślij",
      assistant: "Asystent: ",
      you: "Ty: ",
      suggested: "Proponowane pytania",
      helpful: "Pomocna odpowiedź",
      notHelpful: "Niepomocna odpowiedź",
      wasItHelpful: "Czy ta odpowiedź była pomocna?",
      feedbackNoConnection: "Nie udało się wysłać opinii: brak połączenia z asystentem.",
      notSentNoConnection: "Nie wysłano: brak połączenia",
      notSentShort: "Nie wysłano",
      feedbackFailed: "Nie udało się wysłać opinii",
      thanks: "Dziękujemy za opinię.",
      tooLong: function (over, max) {
        return over + " " + plural(over, "znak", "znaki", "znaków") + " za dużo: wiadomość może mieć najwyżej " +
          max + " znaków.";
      },
      left: function (n, max) { return "Pozostało " + n + " z " + max + " znaków"; },
      notSentBecause: "Nie wysłano: ",
    },
  };
  var TEXT = TEXTS[cfg.lang];
  var retryTimer = null;

  var tabId = newId(); // this tab's outbox entries carry it (see adoptOrphans)
  var memory = normalize({});
  var state = read();
  var socket = null;
  var ready = false; // connected and the session confirmed
  var awaitingSession = false; // a session_confirm is the answer to our session_request
  var synced = false; // history shown at least once
  var refused = false; // the server refuses this page's origin: no more retries
  var originRefusals = 0;
  var checkingOrigin = false;
  var pending = {}; // message id -> receipt timer, for messages sent and not yet confirmed
  var nodes = {}; // message id -> its list item, for status updates
  var lastUserId = null; // the visitor's message the next bot messages answer (for feedback)
  var answerIndex = 0; // how many bot messages have answered it so far
  var channel = window.BroadcastChannel ? new BroadcastChannel(STORAGE_KEY) : null;
  if (navigator.locks) {
    // held as long as this tab lives: another tab adopts our unsent messages only once it is gone
    navigator.locks.request("umb-chat-tab:" + tabId, function () { return new Promise(function () {}); });
  }

  // ---------- storage (shared by the tabs of a visitor, so always read before a change) ----------

  function normalize(saved) {
    return {
      sessionId: saved.sessionId || null,
      outbox: Array.isArray(saved.outbox) ? saved.outbox : [],
      open: !!saved.open,
      feedback: saved.feedback && typeof saved.feedback === "object" ? saved.feedback : {},
    };
  }

  function read() {
    try {
      var raw = window[cfg.storage].getItem(STORAGE_KEY);
      if (raw) return normalize(JSON.parse(raw));
    } catch (e) {
      /* storage disabled or broken: the chat still works, without surviving a reload */
    }
    return memory;
  }

  function update(change) {
    var s = read();
    change(s);
    memory = state = s;
    try {
      window[cfg.storage].setItem(STORAGE_KEY, JSON.stringify(s));
    } catch (e) {
      /* see read() */
    }
    return s;
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  /** Characters as the server counts them (code points, surrounding space stripped). */
  function charCount(text) {
    return Array.from(text.trim()).length;
  }

  // ---------- DOM ----------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var host = el("umb-chat-widget");
  var shadow = host.attachShadow({ mode: "open" });
  var uid = "umb-chat-" + newId();
  var root = el("div", { class: "umb-chat", lang: cfg.lang });
  var launcher = el("button", {
    type: "button", class: "umb-chat__launcher", "aria-expanded": "false", "aria-controls": uid + "-panel",
  }, TEXT.launcher);
  var panel = el("div", { id: uid + "-panel", class: "umb-chat__panel", role: "dialog", "aria-labelledby": uid + "-title" });
  panel.hidden = true;
  var header = el("div", { class: "umb-chat__header" });
  var title = el("h2", { id: uid + "-title", class: "umb-chat__title" }, cfg.title);
  var closeBtn = el("button", { type: "button", class: "umb-chat__close", "aria-label": TEXT.close }, "\u00d7");
  var status = el("div", { class: "umb-chat__status", role: "status" });
  var statusText = el("span");
  var tryAgain = el("button", { type: "button", class: "umb-chat__try-again" }, TEXT.tryAgain);
  var log = el("div", { class: "umb-chat__log", role: "log", "aria-live": "polite", "aria-label": TEXT.conversation, tabindex: "0" });
  var list = el("ol", { class: "umb-chat__list" });
  var form = el("form", { class: "umb-chat__form" });
  var label = el("label", { for: uid + "-input", class: "umb-chat__sr-only" }, TEXT.yourMessage);
  var input = el("input", {
    id: uid + "-input", class: "umb-chat__input", type: "text", autocomplete: "off",
    placeholder: TEXT.placeholder, "aria-describedby": uid + "-count",
  });
  var sendBtn = el("button", { type: "submit", class: "umb-chat__send" }, TEXT.send);
  var count = el("p", { id: uid + "-count", class: "umb-chat__count" });
  var notice = el("p", { class: "umb-chat__sr-only", role: "status" }); // announcements only
  count.hidden = true;
  status.hidden = true;
  tryAgain.hidden = true;

  header.append(title, closeBtn);
  status.append(statusText, tryAgain);
  log.append(list);
  form.append(label, input, sendBtn);
  panel.append(header, status, log, count, form, notice);
  root.append(panel, launcher);

  /** Text with line breaks and links, built from text nodes: markup in it is shown, never run. */
  function appendRichText(parent, text) {
    String(text).split("\n").forEach(function (line, i) {
      if (i) parent.appendChild(document.createElement("br"));
      var last = 0;
      var m;
      LINK.lastIndex = 0;
      while ((m = LINK.exec(line)) !== null) {
        parent.appendChild(document.createTextNode(line.slice(last, m.index)));
        var isMail = m[0].indexOf("://") < 0;
        var a = el("a", { href: (isMail ? "mailto:" : "") + m[0] }, m[0]);
        if (!isMail) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
        parent.appendChild(a);
        last = m.index + m[0].length;
      }
      parent.appendChild(document.createTextNode(line.slice(last)));
    });
  }

  // ---------- scrolling: the newest message or note is always in view ----------

  var atEnd = true; // the visitor has not scrolled up to read

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
    atEnd = true;
  }

  /** Scrolls the log (only the log) so that `node` is in view. */
  function reveal(node) {
    if (node === list.lastElementChild || !node.isConnected) { scrollToEnd(); return; }
    var top = node.getBoundingClientRect().top - log.getBoundingClientRect().top + log.scrollTop;
    if (top < log.scrollTop || top + node.offsetHeight > log.scrollTop + log.clientHeight) {
      log.scrollTop = top + node.offsetHeight - log.clientHeight + 8;
    }
  }

  log.addEventListener("scroll", function () {
    atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  });
  if (window.ResizeObserver) {
    // the status line or the counter appearing shrinks the log: keep the newest message in view
    new ResizeObserver(function () { if (atEnd) scrollToEnd(); }).observe(log);
  }

  // ---------- messages ----------

  function removeQuickReplies() {
    Array.prototype.forEach.call(log.querySelectorAll(".umb-chat__quick-replies"), function (n) { n.remove(); });
  }

  function showBot(text, buttons) {
    var item = el("li", { class: "umb-chat__msg umb-chat__msg--bot" });
    var bubble = el("div", { class: "umb-chat__text" });
    bubble.appendChild(el("span", { class: "umb-chat__sr-only" }, TEXT.assistant));
    appendRichText(bubble, text);
    item.appendChild(bubble);
    if (lastUserId) item.appendChild(feedbackButtons(lastUserId + ":" + answerIndex++, lastUserId, text));
    list.appendChild(item);
    removeQuickReplies();
    if (buttons && buttons.length) {
      var group = el("div", { class: "umb-chat__quick-replies", role: "group", "aria-label": TEXT.suggested });
      buttons.forEach(function (b) {
        var btn = el("button", { type: "button", class: "umb-chat__quick-reply" }, b.title);
        btn.addEventListener("click", function () {
          send(b.payload, b.title);
          input.focus();
        });
        group.appendChild(btn);
      });
      log.appendChild(group);
    }
    scrollToEnd();
  }

  function showUser(msg, msgStatus) {
    var hidden = msg.text === cfg.initialPayload; // the greeting is not an answer to rate
    lastUserId = hidden ? null : msg.id || null;
    answerIndex = 0;
    if (hidden) return;
    var item = el("li", { class: "umb-chat__msg umb-chat__msg--user" });
    var bubble = el("div", { class: "umb-chat__text" });
    bubble.appendChild(el("span", { class: "umb-chat__sr-only" }, TEXT.you));
    bubble.appendChild(document.createTextNode(msg.label));
    item.appendChild(bubble);
    list.appendChild(item);
    if (msg.id) nodes[msg.id] = item;
    scrollToEnd();
    setStatus(msg, msgStatus);
  }

  /** Marks a message of the visitor: "" (received by the server) or "waiting" (sent once the connection is back). */
  function setStatus(msg, msgStatus) {
    var item = nodes[msg.id];
    if (!item) return;
    var old = item.querySelector(".umb-chat__note");
    if (old) old.remove();
    item.classList.toggle("umb-chat__msg--unsent", msgStatus === "waiting");
    if (msgStatus === "waiting") {
      item.appendChild(el("p", { class: "umb-chat__note" }, TEXT.notSent));
      reveal(item);
    }
  }

  function showConnection(text, canRetry) {
    statusText.textContent = text;
    tryAgain.hidden = !canRetry;
    status.hidden = !text;
  }

  function announce(text) {
    notice.textContent = "";
    // a fresh text node, so that screen readers announce the same text again
    setTimeout(function () { notice.textContent = text; }, 50);
  }

  // ---------- feedback on the bot's answers ----------

  var FEEDBACK = [
    { value: "up", label: TEXT.helpful, turn: "" },
    { value: "down", label: TEXT.notHelpful, turn: "rotate(180 12 12)" },
  ];
  var SVG = "http://www.w3.org/2000/svg";
  var THUMB = "M2 10h4v11H2zM8 10l4-7c1.5 0 2.5 1 2.2 2.6L13.5 9H20c1.2 0 2 1 1.8 2.2l-1.5 8c-.2 1.1-1.1 1.8-2.2 1.8H8z";

  /** A thumb drawn with SVG (emoji depend on the visitor's fonts): 👍, or 👎 turned over. */
  function thumb(turn) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG, "path");
    path.setAttribute("d", THUMB);
    if (turn) path.setAttribute("transform", turn);
    svg.appendChild(path);
    return svg;
  }

  function feedbackButtons(key, messageId, text) {
    var group = el("div", { class: "umb-chat__feedback", role: "group", "aria-label": TEXT.wasItHelpful });
    var thanks = el("span", { class: "umb-chat__thanks" });
    var buttons = FEEDBACK.map(function (f) {
      var btn = el("button", {
        type: "button", class: "umb-chat__rate umb-chat__rate--" + f.value, "aria-label": f.label, title: f.label,
        "aria-pressed": "false",
      });
      btn.appendChild(thumb(f.turn));
      btn.addEventListener("click", function () {
        var value = btn.getAttribute("aria-pressed") === "true" ? "none" : f.value;
        rate(key, messageId, text, value, show);
      });
      group.appendChild(btn);
      return btn;
    });
    group.appendChild(thanks);

    function show(value, message) {
      buttons.forEach(function (btn, i) { btn.setAttribute("aria-pressed", String(FEEDBACK[i].value === value)); });
      thanks.textContent = message || "";
    }
    show(state.feedback[key] || "none", "");
    return group;
  }

  /** Sends a rating (or its withdrawal, "none") to the server, which keeps it in the conversation. */
  function rate(key, messageId, text, value, show) {
    var before = state.feedback[key] || "none";
    if (!ready) {
      announce(TEXT.feedbackNoConnection);
      show(before, TEXT.notSentNoConnection);
      return;
    }
    show(value, "");
    var done = false;
    var timer = setTimeout(function () {
      if (done) return;
      done = true;
      show(before, TEXT.notSentShort);
      announce(TEXT.feedbackFailed + ".");
    }, FEEDBACK_TIMEOUT_MS);
    socket.emit("feedback", { session_id: state.sessionId, message_id: messageId, answer: text, value: value }, function (reply) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (reply && reply.stored) {
        update(function (s) { if (value === "none") delete s.feedback[key]; else s.feedback[key] = value; });
        var thanks = value === "none" ? "" : TEXT.thanks;
        show(value, thanks);
        if (thanks) announce(thanks);
      } else {
        show(before, TEXT.notSentShort);
        announce(TEXT.feedbackFailed + (reply && reply.error ? ": " + reply.error : "."));
      }
    });
  }

  // ---------- the visitor's message and its length ----------

  var lengthLevel = "ok";

  function updateCount() {
    var n = charCount(input.value);
    var level = n > MAX_CHARS ? "over" : n >= NEAR_LIMIT ? "near" : "ok";
    count.hidden = level === "ok";
    count.classList.toggle("umb-chat__count--over", level === "over");
    if (level === "over") {
      count.textContent = TEXT.tooLong(n - MAX_CHARS, MAX_CHARS);
      input.setAttribute("aria-invalid", "true");
    } else {
      count.textContent = TEXT.left(MAX_CHARS - n, MAX_CHARS);
      input.removeAttribute("aria-invalid");
    }
    if (level !== lengthLevel && level !== "ok") announce(count.textContent);
    lengthLevel = level;
  }

  input.addEventListener("input", updateCount);

  // ---------- conversation ----------

  function send(text, shown) {
    text = text.trim();
    if (!text) return false;
    if (charCount(text) > MAX_CHARS) {
      announce(TEXT.notSentBecause + count.textContent);
      return false;
    }
    removeQuickReplies();
    var msg = { id: newId(), text: text, label: shown || text, tab: tabId };
    update(function (s) { s.outbox.push(msg); });
    showUser(msg, ready ? "" : "waiting");
    if (channel) channel.postMessage({ type: "user", sessionId: state.sessionId, msg: msg });
    if (ready) emit(msg);
    return true;
  }

  /**
   * Sends a message; it counts as received when the server answers it (the ack of user_uttered
   * comes after the whole turn) or, sooner, when the server answers the session_request sent
   * right behind it on the same connection (packets arrive in order).
   */
  function emit(msg) {
    if (pending[msg.id]) return;
    var received = function () { confirm(msg); };
    pending[msg.id] = setTimeout(function () {
      if (!pending[msg.id]) return;
      delete pending[msg.id];
      setStatus(msg, "waiting");
      connectionLost(TEXT.lost);
    }, RECEIPT_TIMEOUT_MS);
    socket.emit("user_uttered", { message: msg.text, session_id: state.sessionId, metadata: { message_id: msg.id, lang: cfg.lang } }, received);
    awaitingSession = false;
    socket.emit("session_request", { session_id: state.sessionId }, received);
  }

  function confirm(msg) {
    clearTimeout(pending[msg.id]);
    delete pending[msg.id];
    update(function (s) { s.outbox = s.outbox.filter(function (m) { return m.id !== msg.id; }); });
    setStatus(msg, "");
  }

  /** Every message not confirmed yet is marked "Not sent yet" (it is sent again after reconnecting). */
  function markUnsent() {
    Object.keys(pending).forEach(function (id) { clearTimeout(pending[id]); delete pending[id]; });
    state.outbox.forEach(function (m) { if (m.tab === tabId) setStatus(m, "waiting"); });
  }

  /** Shows the conversation as the server has it, then (re)sends what it has not got. */
  function sync(fresh) {
    fetch(cfg.server + "/web/history/" + encodeURIComponent(state.sessionId), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (history) {
        var got = {};
        list.textContent = "";
        removeQuickReplies();
        nodes = {};
        lastUserId = null;
        history.messages.forEach(function (m, i) {
          if (m.from === "user") {
            if (m.id) got[m.id] = true;
            showUser({ id: m.id, text: m.text, label: m.label }, "");
          } else {
            showBot(m.text, i === history.messages.length - 1 ? m.buttons : []);
          }
        });
        update(function (s) { s.outbox = s.outbox.filter(function (m) { return !got[m.id]; }); });
        sendOutbox(!history.messages.length);
      }, function (err) {
        // the conversation so far stays as shown; what is unsent goes out all the same
        console.warn("UMB chat: could not load the conversation so far (" + err.message + ")");
        sendOutbox(fresh && !list.children.length);
      });
  }

  function sendOutbox(greet) {
    synced = true;
    adoptOrphans().then(function () {
      state.outbox.forEach(function (m) {
        if (m.tab !== tabId) return; // another open tab sends it
        if (!nodes[m.id]) showUser(m, "");
        emit(m);
      });
      if (greet && !state.outbox.length && cfg.initialPayload) send(cfg.initialPayload);
    });
  }

  /** Unsent messages of a tab that is closed now become this tab's to send. */
  function adoptOrphans() {
    var others = state.outbox.filter(function (m) { return m.tab !== tabId; });
    if (!others.length) return Promise.resolve();
    var alive = navigator.locks
      ? navigator.locks.query().then(function (q) { return q.held.map(function (l) { return l.name; }); }, function () { return []; })
      : Promise.resolve([]);
    return alive.then(function (names) {
      update(function (s) {
        s.outbox.forEach(function (m) { if (names.indexOf("umb-chat-tab:" + m.tab) < 0) m.tab = tabId; });
      });
    });
  }

  if (channel) {
    // another tab of this visitor asked something: show it here too (its answer comes over the socket)
    channel.onmessage = function (e) {
      var d = e.data || {};
      if (d.type !== "user" || !synced || !d.msg || d.sessionId !== state.sessionId || nodes[d.msg.id]) return;
      removeQuickReplies();
      showUser({ id: d.msg.id, text: d.msg.text, label: d.msg.label }, "");
    };
  }

  /** Gives up on a connection that looks dead instead of waiting for socket.io's ping timeout. */
  function connectionLost(text) {
    ready = false;
    showConnection(text);
    markUnsent();
    if (socket && socket.connected) socket.io.engine.close(); // socket.io reconnects at once
  }

  /**
   * Whether the server refuses this page's origin: it answers, but without CORS headers for us.
   * The probe asks for a session that does not exist: the server checks the origin first, and
   * answers an accepted one with HTTP 400 and CORS headers.
   */
  function originRefused() {
    var probe = cfg.server + "/socket.io/?EIO=4&transport=polling&sid=umb-chat-origin-check";
    var get = function (mode) {
      var abort = window.AbortController ? new AbortController() : null;
      if (abort) setTimeout(function () { abort.abort(); }, 5000);
      return fetch(probe, { mode: mode, cache: "no-store", credentials: "omit", signal: abort && abort.signal });
    };
    return get("cors").then(
      function () { return false; },
      function () { return get("no-cors").then(function () { return true; }, function () { return false; }); }
    );
  }

  function checkOrigin() {
    if (checkingOrigin || refused) return;
    checkingOrigin = true;
    originRefused().then(function (isRefused) {
      checkingOrigin = false;
      originRefusals = isRefused ? originRefusals + 1 : 0;
      if (originRefusals >= 2 && socket && !socket.connected) {
        // twice in a row: stop retrying, and say what the site's editor has to do
        refused = true;
        socket.disconnect();
        showConnection(TEXT.refused, true);
        console.error("UMB chat: " + cfg.server + " refuses this page's origin (" + location.origin +
          "): add it to CORS_ORIGINS in the assistant's settings.");
      }
    });
  }

  tryAgain.addEventListener("click", function () {
    refused = false;
    originRefusals = 0;
    showConnection(TEXT.connecting);
    socket.connect();
    input.focus();
  });

  function connect() {
    if (socket) return;
    showConnection(TEXT.connecting);
    socket = window.io(cfg.server, {
      transports: ["websocket", "polling"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 2000,
      timeout: 5000,
    });
    socket.on("connect", function () {
      originRefusals = 0;
      awaitingSession = true;
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (sessionId) {
      if (!awaitingSession) return; // the answer to a receipt check (see emit)
      awaitingSession = false;
      var id = typeof sessionId === "string" ? sessionId : sessionId && sessionId.session_id;
      var fresh = id !== state.sessionId;
      update(function (s) { s.sessionId = id; });
      ready = true;
      showConnection("");
      sync(fresh);
    });
    socket.on("bot_uttered", function (msg) {
      if (!synced) return; // the history will show it
      showBot(msg.text || "", msg.quick_replies || msg.buttons || []);
    });
    socket.on("disconnect", function () {
      if (refused) return;
      ready = false;
      showConnection(navigator.onLine === false ? TEXT.offline : TEXT.lost);
      markUnsent();
    });
    socket.on("connect_error", function (err) {
      if (refused) return;
      ready = false;
      var wait = err && err.data && err.data.retry_after;
      if (wait) {
        // too many connections from this address (channels/limits.py): the server says when to
        // try again, and socket.io does not retry a refusal by itself
        showConnection(TEXT.tooMany(wait));
        markUnsent();
        clearTimeout(retryTimer);
        retryTimer = setTimeout(function () {
          if (!refused && socket && !socket.connected) socket.connect();
        }, wait * 1000);
        return;
      }
      showConnection(navigator.onLine === false ? TEXT.offline : TEXT.unreachable);
      markUnsent();
      if (navigator.onLine !== false) checkOrigin();
    });
  }

  window.addEventListener("offline", function () {
    if (socket && !refused) connectionLost(TEXT.offline);
  });

  // ---------- open and close; on a phone the open chat is modal ----------

  var phone = window.matchMedia("(max-width: 480px)");

  function isModal() {
    return phone.matches && !panel.hidden;
  }

  function updateModal() {
    if (phone.matches) panel.setAttribute("aria-modal", "true");
    else panel.removeAttribute("aria-modal");
  }

  function focusables() {
    return Array.prototype.filter.call(
      panel.querySelectorAll("button, input, a[href], [tabindex='0']"),
      function (n) { return !n.disabled && n.getClientRects().length > 0; }
    );
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    update(function (s) { s.open = true; });
    connect();
    input.focus();
    scrollToEnd();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    update(function (s) { s.open = false; });
    launcher.focus();
  }

  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); close(); return; }
    if (e.key !== "Tab" || !isModal()) return;
    // phone: Tab and Shift+Tab go round the chat, never into the page it covers
    var f = focusables();
    var active = shadow.activeElement;
    if (e.shiftKey && (active === f[0] || f.indexOf(active) < 0)) { e.preventDefault(); f[f.length - 1].focus(); }
    else if (!e.shiftKey && (active === f[f.length - 1] || f.indexOf(active) < 0)) { e.preventDefault(); f[0].focus(); }
  });
  document.addEventListener("focusin", function (e) {
    if (isModal() && e.target !== host) input.focus(); // focus got into the covered page some other way
  });
  if (phone.addEventListener) phone.addEventListener("change", updateModal);
  updateModal();
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (send(input.value)) {
      input.value = "";
      updateCount();
    }
    input.focus();
  });

  // ---------- start ----------

  var css = el("link", { rel: "stylesheet", href: new URL("widget.css", base).href });
  var io = el("script", { src: new URL("vendor/socket.io.min.js", base).href });
  var ioLoaded = new Promise(function (resolve) { io.addEventListener("load", resolve); });
  io.addEventListener("error", function () {
    console.error("UMB chat: could not load " + io.src + "; the chat is unavailable");
  });
  document.head.appendChild(io);
  var domReady = new Promise(function (resolve) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", resolve);
    else resolve();
  });
  Promise.all([ioLoaded, domReady]).then(function () {
    // the stylesheet loads once the host is in the page; the widget shows only once styled
    css.addEventListener("load", show);
    css.addEventListener("error", function () {
      console.error("UMB chat: could not load " + css.href);
      show();
    });
    shadow.append(css);
    document.body.appendChild(host);
  });

  function show() {
    shadow.append(root);
    if (state.open) open();
  }
})();
