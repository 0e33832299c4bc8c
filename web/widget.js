/*
 * UMB cooperation assistant: chat widget for a web page, talking to Rasa's socket.io channel.
 *
 * Embed with one tag (see README, "Web chat widget"):
 *   <script src="https://ASSISTANT/web/widget.js" data-title="..." data-initial-payload="/greet" defer></script>
 * Options (data-* attributes of that tag):
 *   data-server           the assistant's URL (default: where widget.js comes from)
 *   data-title            the chat window's title
 *   data-initial-payload  sent (hidden) when a visitor opens the chat for the first time, so that
 *                         the bot greets; empty for none
 *   data-storage          "local" (default: the conversation is kept across tabs and visits) or
 *                         "session" (kept in this tab only)
 *
 * Bot messages are rendered as text: only line breaks and links are made from them, with DOM
 * text nodes, never innerHTML. Messages not yet confirmed by the server stay in an outbox kept
 * in storage, and are sent again after a reconnect or a reload unless the history shows them.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = new URL(".", script.src);
  var data = script.dataset;
  var cfg = {
    server: data.server || base.origin,
    title: data.title || "Chat",
    initialPayload: data.initialPayload === undefined ? "/greet" : data.initialPayload,
    storage: data.storage === "session" ? "sessionStorage" : "localStorage",
  };
  var STORAGE_KEY = "umb-chat:" + cfg.server;
  var ACK_TIMEOUT_MS = 60000;
  var LINK = /(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)'"]|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;

  var state = load();
  var socket = null;
  var ready = false; // connected and the session confirmed
  var synced = false; // history shown at least once
  var inFlight = {};
  var nodes = {}; // message id -> its list item, for status updates

  // ---------- storage ----------

  function load() {
    try {
      var saved = JSON.parse(window[cfg.storage].getItem(STORAGE_KEY) || "{}");
      return { sessionId: saved.sessionId || null, outbox: saved.outbox || [], open: !!saved.open };
    } catch (e) {
      return { sessionId: null, outbox: [], open: false };
    }
  }

  function save() {
    try {
      window[cfg.storage].setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage disabled: the chat still works, without surviving a reload */
    }
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  // ---------- DOM ----------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var uid = "umb-chat-" + newId();
  var root = el("div", { class: "umb-chat" });
  var launcher = el("button", {
    type: "button", class: "umb-chat__launcher", "aria-expanded": "false", "aria-controls": uid + "-panel",
    "aria-label": "Open chat: " + cfg.title,
  }, "Chat with us");
  var panel = el("section", { id: uid + "-panel", class: "umb-chat__panel", role: "dialog", "aria-labelledby": uid + "-title" });
  panel.hidden = true;
  var header = el("header", { class: "umb-chat__header" });
  var title = el("h2", { id: uid + "-title", class: "umb-chat__title" }, cfg.title);
  var closeBtn = el("button", { type: "button", class: "umb-chat__close", "aria-label": "Close chat" }, "\u00d7");
  var status = el("p", { class: "umb-chat__status", role: "status" });
  var log = el("ol", { class: "umb-chat__log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
  var form = el("form", { class: "umb-chat__form" });
  var label = el("label", { for: uid + "-input", class: "umb-chat__sr-only" }, "Your message");
  var input = el("input", { id: uid + "-input", class: "umb-chat__input", type: "text", autocomplete: "off", maxlength: "1000", placeholder: "Type your question…" });
  var sendBtn = el("button", { type: "submit", class: "umb-chat__send" }, "Send");

  header.append(title, closeBtn);
  form.append(label, input, sendBtn);
  panel.append(header, status, log, form);
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

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function removeQuickReplies() {
    Array.prototype.forEach.call(log.querySelectorAll(".umb-chat__quick-replies"), function (n) { n.remove(); });
  }

  function showBot(text, buttons) {
    var item = el("li", { class: "umb-chat__msg umb-chat__msg--bot" });
    item.appendChild(el("span", { class: "umb-chat__sr-only" }, "Assistant: "));
    appendRichText(item, text);
    log.appendChild(item);
    if (buttons && buttons.length) {
      var group = el("li", { class: "umb-chat__quick-replies", role: "group", "aria-label": "Suggested questions" });
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
    scrollDown();
  }

  function showUser(msg, msgStatus) {
    if (msg.text === cfg.initialPayload) return;
    var item = el("li", { class: "umb-chat__msg umb-chat__msg--user" });
    item.appendChild(el("span", { class: "umb-chat__sr-only" }, "You: "));
    item.appendChild(document.createTextNode(msg.label));
    log.appendChild(item);
    if (msg.id) nodes[msg.id] = item;
    setStatus(msg, msgStatus);
    scrollDown();
  }

  /** Marks a message of the visitor: "" sent, "waiting" (offline: sent on reconnect), "failed" (retry). */
  function setStatus(msg, msgStatus) {
    var item = nodes[msg.id];
    if (!item) return;
    var old = item.querySelector(".umb-chat__note");
    if (old) old.remove();
    item.classList.toggle("umb-chat__msg--unsent", !!msgStatus);
    if (msgStatus === "waiting") {
      item.appendChild(el("span", { class: "umb-chat__note" }, "Not sent yet: it will be sent when the connection is back."));
    } else if (msgStatus === "failed") {
      var note = el("span", { class: "umb-chat__note" }, "Not sent. ");
      var retry = el("button", { type: "button", class: "umb-chat__retry" }, "Retry");
      retry.addEventListener("click", function () { setStatus(msg, ""); emit(msg); });
      note.appendChild(retry);
      item.appendChild(note);
    }
  }

  function showConnection(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  // ---------- conversation ----------

  function send(text, shown) {
    text = text.trim();
    if (!text) return;
    removeQuickReplies();
    var msg = { id: newId(), text: text, label: shown || text };
    state.outbox.push(msg);
    save();
    showUser(msg, ready ? "" : "waiting");
    if (ready) emit(msg);
  }

  function emit(msg) {
    if (inFlight[msg.id]) return;
    inFlight[msg.id] = true;
    socket.timeout(ACK_TIMEOUT_MS).emit(
      "user_uttered",
      { message: msg.text, session_id: state.sessionId, metadata: { message_id: msg.id } },
      function (err) {
        delete inFlight[msg.id];
        if (!err) {
          state.outbox = state.outbox.filter(function (m) { return m.id !== msg.id; });
          save();
          setStatus(msg, "");
        } else {
          // a lost connection: sent again after reconnecting; a timeout: the visitor decides
          setStatus(msg, socket.connected ? "failed" : "waiting");
        }
      }
    );
  }

  /** Shows the conversation as the server has it, then (re)sends what it has not got. */
  function sync(fresh) {
    fetch(cfg.server + "/web/history/" + encodeURIComponent(state.sessionId))
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (history) {
        var got = {};
        log.textContent = "";
        nodes = {};
        history.messages.forEach(function (m, i) {
          if (m.from === "user") {
            if (m.id) got[m.id] = true;
            showUser({ text: m.text, label: m.label }, "");
          } else {
            showBot(m.text, i === history.messages.length - 1 ? m.buttons : []);
          }
        });
        state.outbox = state.outbox.filter(function (m) { return !got[m.id]; });
        save();
        sendOutbox(!history.messages.length);
      }, function (err) {
        // the conversation so far stays as shown; what is unsent goes out all the same
        console.warn("UMB chat: could not load the conversation so far (" + err.message + ")");
        sendOutbox(fresh && !log.children.length);
      });
  }

  function sendOutbox(greet) {
    synced = true;
    state.outbox.forEach(function (m) {
      if (!nodes[m.id]) showUser(m, "");
      else setStatus(m, "");
      emit(m);
    });
    if (greet && !state.outbox.length && cfg.initialPayload) send(cfg.initialPayload);
  }

  function connect() {
    if (socket) return;
    showConnection("Connecting…");
    socket = window.io(cfg.server, { transports: ["websocket", "polling"] });
    socket.on("connect", function () {
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (sessionId) {
      var id = typeof sessionId === "string" ? sessionId : sessionId && sessionId.session_id;
      var fresh = id !== state.sessionId;
      state.sessionId = id;
      save();
      ready = true;
      showConnection("");
      sync(fresh);
    });
    socket.on("bot_uttered", function (msg) {
      if (!synced) return; // the history will show it
      showBot(msg.text || "", msg.quick_replies || msg.buttons || []);
    });
    socket.on("disconnect", function () {
      ready = false;
      showConnection("Connection lost, reconnecting… Messages you send now will be sent when it is back.");
    });
    socket.on("connect_error", function () {
      showConnection("Cannot reach the assistant, retrying… Messages you send now will be sent when it is back.");
    });
  }

  // ---------- open and close ----------

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Close chat: " + cfg.title);
    state.open = true;
    save();
    connect();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", "Open chat: " + cfg.title);
    state.open = false;
    save();
    launcher.focus();
  }

  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); close(); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    send(input.value);
    input.value = "";
    input.focus();
  });

  // ---------- start ----------

  function start() {
    document.body.appendChild(root);
    if (state.open) open();
  }

  var css = el("link", { rel: "stylesheet", href: new URL("widget.css", base).href });
  document.head.appendChild(css);
  var io = el("script", { src: new URL("vendor/socket.io.min.js", base).href });
  io.addEventListener("load", function () {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  });
  io.addEventListener("error", function () {
    console.error("UMB chat: could not load " + io.src + "; the chat is unavailable");
  });
  document.head.appendChild(io);
})();
