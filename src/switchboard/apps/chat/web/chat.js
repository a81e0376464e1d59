// Shared by the WebSocket and the polling chat pages: the message list, the
// composer, the room picker, the request counters, and the reports to the
// comparison page when a chat page is embedded in it.
//
// Chat text and names are untrusted: they are only ever rendered with textContent,
// never as HTML.

const encoder = new TextEncoder();
const params = new URLSearchParams(location.search);
export const embedded = window.parent !== window;
if (embedded) document.documentElement.classList.add("embedded");

/** Milliseconds since the epoch, sub-millisecond; comparable between frames of one page. */
export function now() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
}

export function byteLength(text) {
  return encoder.encode(text).length;
}

/** Tell the comparison page (our parent frame) what happened; no-op on its own. */
function report(pane, kind, data) {
  if (embedded) window.parent.postMessage({ chat: kind, pane, ...data }, location.origin);
}

/** Call `handle(value)` when the comparison page (our parent) posts `{[command]: value}`. */
function fromParent(command, handle) {
  window.addEventListener("message", (event) => {
    if (event.source === window.parent && event.origin === location.origin) {
      if (event.data?.[command] !== undefined) handle(event.data[command]);
    }
  });
}

/** Counts what one client costs: HTTP requests by kind, payload bytes, messages. */
export class Stats {
  constructor(transport) {
    this.transport = transport;
    this.requests = {}; // kind -> count, e.g. {upgrade: 1, "history fetch": 1}
    this.bytesDown = 0;
    this.bytesUp = 0;
    this.received = 0; // live messages (not history)
    // The comparison page asks again for counts it may have missed while loading.
    fromParent("report", () => this.render());
  }

  get total() {
    return Object.values(this.requests).reduce((sum, n) => sum + n, 0);
  }

  request(kind) {
    this.requests[kind] = (this.requests[kind] ?? 0) + 1;
    this.render();
  }

  down(bytes) {
    this.bytesDown += bytes;
    this.render();
  }

  up(bytes) {
    this.bytesUp += bytes;
    this.render();
  }

  /** A message pushed or polled after the page loaded, arrived at time `at`. */
  receive(message, at) {
    this.received += 1;
    report(this.transport, "received", { message, at });
    this.render();
  }

  sent(author, sent) {
    report(this.transport, "sent", { author, sent });
  }

  breakdown() {
    const parts = Object.entries(this.requests).map(([kind, n]) => `${n} ${plural(kind, n)}`);
    return parts.join(" + ") || "none";
  }

  render() {
    text("stat-requests", this.total);
    text("stat-breakdown", this.breakdown());
    text("stat-down", formatBytes(this.bytesDown));
    text("stat-received", this.received);
    report(this.transport, "stats", {
      stats: {
        requests: this.total,
        breakdown: this.breakdown(),
        bytesDown: this.bytesDown,
        bytesUp: this.bytesUp,
        received: this.received,
      },
    });
  }
}

const PLURALS = { "history fetch": "history fetches" };

function plural(kind, n) {
  return n === 1 ? kind : (PLURALS[kind] ?? `${kind}s`);
}

export function formatBytes(n) {
  return n < 10000 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

export function text(id, value) {
  const element = document.getElementById(id);
  if (element) element.textContent = String(value);
}

/**
 * fetch() that counts the request and its payload bytes in `stats` and returns the
 * parsed JSON; a non-2xx answer throws an Error with the server's "error" text.
 */
export async function fetchJSON(stats, kind, url, options = {}) {
  stats.request(kind);
  if (options.body) stats.up(byteLength(options.body));
  const response = await fetch(url, { ...options, signal: AbortSignal.timeout(10000) });
  const body = await response.text();
  stats.down(byteLength(body));
  let data;
  try {
    data = JSON.parse(body);
  } catch {
    throw new Error(`HTTP ${response.status}: the answer is not JSON`);
  }
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

/** The message list, status line and composer of a chat page. */
export class ChatView {
  /** `send(author, text)` sends a message; it throws (or rejects) with a readable error. */
  constructor(send) {
    this.send = send;
    this.list = document.getElementById("messages");
    this.items = new Map(); // message id -> <li>
    this.maxLength = 2000;
    this.maxItems = 200;
    this.author = document.getElementById("author");
    this.input = document.getElementById("text");
    this.counter = document.getElementById("counter");
    this.error = document.getElementById("error");
    this.statusLine = document.getElementById("status");
    this.author.value = params.get("name") ?? localStorage.getItem("chat-name") ?? guestName();
    this.author.addEventListener("change", () => {
      if (!params.has("name")) localStorage.setItem("chat-name", this.author.value);
    });
    this.input.addEventListener("input", () => this.count());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.submit();
      }
    });
    document.getElementById("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    // The comparison page's "send from both sides" button.
    fromParent("send", (text) => {
      this.input.value = String(text);
      this.submit();
    });
    this.count();
  }

  /** Apply the limits of an /api/history answer. */
  configure(limits) {
    this.maxLength = limits.max_length;
    this.maxItems = limits.history_size;
    this.author.maxLength = limits.max_name;
    this.count();
  }

  count() {
    const length = [...this.input.value].length; // code points, as the server counts
    this.counter.textContent = `${length} / ${this.maxLength}`;
    this.counter.classList.toggle("over", length > this.maxLength);
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    this.showError("");
    try {
      await this.send(this.author.value, text);
      if (this.input.value === text) this.input.value = "";
    } catch (error) {
      this.showError(error.message);
    }
    this.count();
  }

  /** Put back a message the server refused, unless something new was typed. */
  restore(text) {
    if (!this.input.value) this.input.value = text;
    this.count();
  }

  status(textValue, state) {
    this.statusLine.textContent = textValue;
    this.statusLine.dataset.state = state;
  }

  showError(message) {
    this.error.textContent = message;
  }

  /** Replace the list with `messages` (a history). */
  reset(messages) {
    this.list.replaceChildren();
    this.items.clear();
    for (const message of messages) this.add(message);
  }

  /** Show a message in id order; false if it is already shown. */
  add(message) {
    if (this.items.has(message.id)) return false;
    const item = render(message, message.author === this.author.value.trim());
    let next = null; // the first shown message with a greater id (usually none)
    for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
      if (Number(node.dataset.id) < message.id) break;
      next = node;
    }
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.insertBefore(item, next);
    this.items.set(message.id, item);
    while (this.items.size > this.maxItems) {
      const oldest = this.list.firstElementChild;
      this.items.delete(Number(oldest.dataset.id));
      oldest.remove();
    }
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
    return true;
  }
}

/** A room name as the server accepts them (create_app's `rooms`). */
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * The room picker: one toggle button per room (Tab to it, Enter or Space to
 * switch). `onSwitch(name)` is called when the user picks another room; the page
 * calls `select(name)` once it has switched, which also puts `?room=` in the URL.
 */
export class Rooms {
  constructor(onSwitch) {
    this.onSwitch = onSwitch;
    this.nav = document.getElementById("rooms");
    this.list = document.getElementById("messages");
    this.names = [];
    const wanted = params.get("room");
    /** The room shown: `?room=` if it looks like a room name, else the default one. */
    this.current = wanted && ROOM_NAME.test(wanted) ? wanted : "lobby";
    this.label();
  }

  /** Show the server's rooms (from an /api/history answer). */
  render(names) {
    if (names.join("\n") === this.names.join("\n")) return;
    this.names = [...names];
    const buttons = this.names.map((name) => {
      const button = element("button", "room", `#${name}`);
      button.type = "button";
      button.dataset.room = name;
      button.addEventListener("click", () => {
        if (name !== this.current) this.onSwitch(name);
      });
      return button;
    });
    this.nav.replaceChildren(...buttons);
    this.select(this.current);
  }

  select(name) {
    this.current = name;
    for (const button of this.nav.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.room === name));
    }
    const url = new URL(location.href);
    if (url.searchParams.get("room") !== name) {
      url.searchParams.set("room", name);
      history.replaceState(history.state, "", url);
    }
    this.label();
  }

  label() {
    this.list.setAttribute("aria-label", `Messages in #${this.current}`);
  }
}

/** How each transport is named on the pages. */
export const NAMES = { websocket: "WebSocket", polling: "polling" };

function render(message, mine) {
  const item = element("li", `message via-${message.via}${mine ? " mine" : ""}`);
  item.dataset.id = String(message.id);
  const meta = element("div", "meta");
  const time = element("time", "", new Date(message.time).toLocaleTimeString());
  time.dateTime = new Date(message.time).toISOString();
  meta.append(
    element("span", "author", message.author),
    element("span", "via", NAMES[message.via] ?? "?"),
    time,
  );
  item.append(meta, element("div", "text", message.text));
  return item;
}

function element(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}

function guestName() {
  return `guest-${Math.floor(1000 + Math.random() * 9000)}`;
}
