// Switchboard's browser client for the real-time hub (wire protocol `switchboard.v1`,
// docs/realtime-protocol.md; reference: docs/realtime-client-js.md).
//
// One plain ES module, no build step, no dependencies: only the standard WebSocket
// API. The hub serves it where it is mounted (`router.mount("/rt", hub)` serves
// `/rt/client.js`, and its TypeScript declarations at `/rt/client.d.ts`):
//
//     import { connect } from "/rt/client.js";
//     const hub = connect("/rt", { auth: { token } });
//     hub.on("chat.message", (message) => show(message));
//     await hub.join("lobby");
//     await hub.emit("chat.send", { room: "lobby", text: "hi" });
//
// The client never touches the DOM: it hands the application parsed JSON, which is
// untrusted text to be shown with textContent, never as HTML.
//
// Binary data: a Uint8Array (any typed array, DataView or ArrayBuffer) in what the
// application sends travels as {"$binary": "<base64>"}, and such objects in what
// the hub sends arrive as Uint8Array (docs/realtime-protocol.md, "Binary data").

/** The WebSocket subprotocol of the wire protocol this client speaks. */
export const PROTOCOL = "switchboard.v1";

/** The protocol version sent in `hello`. */
export const VERSION = 1;

/**
 * An error reply from the hub (an error `ack`), or a failure of a request on the
 * client's side. `code` is for programs, `message` for people.
 *
 * Codes from the hub: `bad_message`, `unknown_event`, `invalid_payload` (with
 * `field`), `rejected` (with `details` when the handler gave some), `rate_limited`
 * (with `retryAfter`, in seconds), `too_large`, `not_allowed`, `too_many_rooms`,
 * `unavailable`, `internal`. Codes from the client itself: `timeout` (no reply in
 * time), `buffer_full` (too many requests waiting while not connected), `closed`
 * (the hub was closed, or failed, before the reply came), `too_large` (over the
 * hub's `max_payload`, not sent).
 */
export class HubError extends Error {
  /**
   * @param {string} code the error code, e.g. `"invalid_payload"`
   * @param {string} [message] a sentence for people
   * @param {{field?: string, retryAfter?: number, details?: unknown}} [extra]
   */
  constructor(code, message = "", extra = {}) {
    super(message || code.replace(/_/g, " "));
    this.name = "HubError";
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} the dotted path of the bad field (`invalid_payload`) */
    this.field = extra.field;
    /** @type {number | undefined} seconds to wait before trying again (`rate_limited`) */
    this.retryAfter = extra.retryAfter;
    /** @type {unknown} what the handler added to a `rejected` error, if anything */
    this.details = extra.details;
  }

  /**
   * The HubError for a wire `error` object, e.g. from an error `ack`.
   * @param {unknown} error `{code, message, field?, retry_after?, details?}`
   * @returns {HubError}
   */
  static fromWire(error) {
    if (!error || typeof error !== "object") {
      return new HubError("bad_message", `malformed error from the hub: ${String(error)}`);
    }
    const { code, message, field, retry_after: retryAfter, details } = error;
    return new HubError(typeof code === "string" ? code : "internal", String(message ?? ""), {
      field: typeof field === "string" ? field : undefined,
      retryAfter: typeof retryAfter === "number" ? retryAfter : undefined,
      details,
    });
  }
}

const DEFAULTS = {
  ackTimeout: 10_000,
  connectTimeout: 10_000,
  buffer: 100,
  reconnect: { initial: 500, max: 10_000, factor: 2, jitter: 0.5 },
};

/**
 * Open a connection to a hub and keep it open: it reconnects by itself, with
 * exponential backoff and jitter, resumes its session, rejoins its rooms and
 * recovers the publications it missed, until {@link Hub#close} (or a 44xx close
 * code from the hub, which makes the state `"failed"`).
 *
 * Given several URLs (the nodes of one hub), an attempt that fails before the
 * hub's `welcome` moves on to the next URL, round robin: the retries after a node
 * died go to another one. The first connection tries each URL once, one after the
 * other without waiting; when none of them works it backs off and keeps going round
 * (or, with `reconnect: false`, gives up: `"disconnected"`). A connection that was
 * welcomed and then dropped is retried on the same URL first.
 *
 * @param {string | URL | ReadonlyArray<string | URL>} url where the hub is mounted:
 *   a path (`"/rt"`, resolved against the page: `ws:` on an `http:` page, `wss:` on
 *   `https:`), or an absolute `ws://`, `wss://`, `http://` or `https://` URL; or a
 *   non-empty array of those, tried in order
 * @param {ConnectOptions} [options]
 * @returns {Hub}
 *
 * @typedef {object} ConnectOptions
 * @property {unknown | (() => unknown | Promise<unknown>)} [auth] credentials sent
 *   in `hello` for the hub's `on_connect`; a function is called before every
 *   connection attempt (so a reconnect sends a fresh token)
 * @property {number} [ackTimeout=10000] default milliseconds to wait for the reply
 *   to `emit`, `join` and `leave` (`Infinity`: wait for ever)
 * @property {number} [connectTimeout=10000] milliseconds an attempt may take from
 *   opening the socket to the `welcome` before it is abandoned and retried
 * @property {number} [buffer=100] how many requests may wait while not connected;
 *   beyond that `emit` rejects with `buffer_full` (0: reject at once)
 * @property {false | {initial?: number, max?: number, factor?: number, jitter?: number}} [reconnect]
 *   backoff in milliseconds: the n-th retry waits `min(max, initial * factor ** (n - 1))`
 *   less up to `jitter` of it (0.5: between 50% and 100%); the count restarts after a
 *   `welcome`. `false`: never reconnect (a drop makes the state `"disconnected"`)
 */
export function connect(url, options = {}) {
  return new Hub(url, options);
}

/**
 * A connection to a hub; made by {@link connect}. See docs/realtime-client-js.md.
 */
export class Hub {
  // Connection
  #urls; // the resolved WebSocket URLs, in the order given
  #index = 0; // the URL of the current attempt (or of the next one, between attempts)
  #tried = 0; // failed attempts of the first connection: each URL is tried once at once
  #options;
  #state = "connecting";
  #ws = null; // the current WebSocket, or null between attempts
  #generation = 0; // bumped whenever an attempt is abandoned, to ignore its late callbacks
  #attempt = 0; // retries since the last welcome
  #retryTimer = null;
  #connectTimer = null;
  #watchdog = null;
  #silenceLimit = 0; // ms without any message after which the connection is dead
  #lastHeard = 0;
  #offlineWhileConnected = false;
  #windowListeners = null;
  // Session
  #session = null; // {id, token} from the last welcome
  #user = null;
  #limits = {};
  // Requests
  #clientId = randomId();
  #keys = 0;
  #nextId = 1;
  #requests = new Map(); // id -> request, in creation order
  // Rooms and presence
  #rooms = new Map(); // room -> {offset, epoch} (undefined members for rooms without history)
  #own = new Set(); // rooms the application joined itself: rejoined after a new session
  #replayUntil = new Map(); // room -> offset of its `joined`: events up to it are replays
  #presence = new Map(); // room -> Map(userId -> member)
  // Listeners
  #stateListeners = new Set();
  #eventListeners = new Map();
  #roomListeners = new Set();
  #presenceListeners = new Map();
  #errorListeners = new Set();
  #handlers = new Map();

  /**
   * @param {string | URL | ReadonlyArray<string | URL>} url see {@link connect}
   * @param {ConnectOptions} [options]
   */
  constructor(url, options = {}) {
    const urls = Array.isArray(url) ? url : [url];
    if (urls.length === 0) throw new TypeError("connect() needs at least one URL");
    this.#urls = Object.freeze(urls.map(resolveUrl));
    const reconnect =
      options.reconnect === false ? false : { ...DEFAULTS.reconnect, ...options.reconnect };
    this.#options = { ...DEFAULTS, ...options, reconnect };
    this.#listenToWindow();
    this.#open();
  }

  // -- State ------------------------------------------------------------------------

  /**
   * `"connecting"` (first attempt), `"connected"` (welcomed), `"reconnecting"`
   * (dropped; retrying), `"disconnected"` (closed by {@link Hub#close}) or `"failed"`
   * (refused with a 44xx close code: not retried).
   * @type {"connecting" | "connected" | "reconnecting" | "disconnected" | "failed"}
   */
  get state() {
    return this.#state;
  }

  /**
   * The WebSocket URL of the current connection or attempt (between attempts, of
   * the next one). With several URLs, the one in use now.
   * @type {string}
   */
  get url() {
    return this.#urls[this.#index];
  }

  /** All the WebSocket URLs, resolved, in the order given to {@link connect}. @type {readonly string[]} */
  get urls() {
    return this.#urls;
  }

  /** Who the hub says this is: `{id, info}` from the last `welcome`, or null before. */
  get user() {
    return this.#user;
  }

  /** The session id from the last `welcome` (kept across resumed reconnects), or null. */
  get sessionId() {
    return this.#session?.id ?? null;
  }

  /**
   * Call `listener(state, info)` on every change of state, and again for each retry
   * scheduled while reconnecting. `info`: `{code, reason}` of the close that caused
   * it (when there was one), `attempt` (the number of the next attempt while
   * reconnecting, else 0), `delay` (milliseconds until that attempt), and
   * `resumed` when connected.
   * @param {(state: Hub["state"], info: StateInfo) => void} listener
   * @returns {() => void} a function that removes the listener
   *
   * @typedef {{code?: number, reason?: string, attempt: number, delay?: number, resumed?: boolean}} StateInfo
   */
  onState(listener) {
    return subscribe(this.#stateListeners, listener);
  }

  /**
   * Call `listener(error)` with a {@link HubError} for problems no promise reports:
   * an `error` message from the hub, a failed rejoin after a reconnect, an `auth`
   * function that threw.
   * @param {(error: HubError) => void} listener
   * @returns {() => void} a function that removes the listener
   */
  onError(listener) {
    return subscribe(this.#errorListeners, listener);
  }

  /**
   * Close for good: the state becomes `"disconnected"`, nothing reconnects, and the
   * requests still waiting reject with `closed`. {@link Hub#reconnect} starts again.
   */
  close() {
    if (this.#state === "disconnected") return;
    this.#drop(1000, "closed by the client");
    this.#stopWindowListening();
    this.#failRequests("closed", "the hub connection was closed");
    this.#session = null;
    this.#rooms.clear();
    this.#own.clear();
    this.#replayUntil.clear();
    this.#presence.clear();
    this.#setState("disconnected", { code: 1000, reason: "closed by the client", attempt: 0 });
  }

  /**
   * Drop the connection and connect again now (to {@link Hub#url}), without waiting
   * for the backoff (e.g. when the user clicks a connection badge). After
   * {@link Hub#close} or a failure, start again from scratch, as a first connection
   * (each URL tried once at once, from the one used last; rooms joined since are
   * rejoined).
   */
  reconnect() {
    if (this.#state === "disconnected" || this.#state === "failed") {
      this.#attempt = 0;
      this.#tried = 0;
      this.#listenToWindow();
      this.#setState("connecting", { attempt: 0 });
      this.#open();
      return;
    }
    const reason = "reconnect requested";
    this.#drop(1000, reason);
    this.#attempt += 1;
    this.#setState("reconnecting", { code: 1000, reason, attempt: this.#attempt, delay: 0 });
    this.#open();
  }

  // -- Events -----------------------------------------------------------------------

  /**
   * Call `listener(data, meta)` for each `event` named `event` from the hub.
   * `meta`: `{event, room?, offset?, epoch?, replay?}`; `room` when it was emitted
   * to a room, `offset`/`epoch` when that room keeps history, `replay: true` for a
   * missed publication delivered by recovery after a reconnect. Duplicates (an
   * offset already seen) are not delivered.
   * @param {string} event
   * @param {(data: any, meta: EventMeta) => void} listener
   * @returns {() => void} a function that removes the listener
   *
   * @typedef {{event: string, room?: string, offset?: number, epoch?: string, replay?: boolean}} EventMeta
   */
  on(event, listener) {
    let listeners = this.#eventListeners.get(event);
    if (!listeners) this.#eventListeners.set(event, (listeners = new Set()));
    const off = subscribe(listeners, listener);
    return () => {
      off();
      if (listeners.size === 0 && this.#eventListeners.get(event) === listeners) {
        this.#eventListeners.delete(event);
      }
    };
  }

  /**
   * Emit `event` to the hub and wait for its acknowledgement: resolves with the
   * handler's return value, rejects with a {@link HubError}. Every emit carries an
   * idempotency key, so one re-sent after a reconnect (when its ack had not come
   * when the connection dropped) is applied once. Emits made while not connected
   * wait (at most `buffer` of them) and go out after the next `welcome`.
   * @param {string} event
   * @param {unknown} [data] JSON (Uint8Array, ArrayBuffer: binary data)
   * @param {{timeout?: number, key?: string}} [options] `timeout`: milliseconds from
   *   now (default `ackTimeout`); `key`: your own idempotency key (at most 100
   *   characters), e.g. to make a vote count once even across page reloads
   * @returns {Promise<any>}
   */
  emit(event, data = null, options = {}) {
    if (!isName(event, 100)) return Promise.reject(new TypeError(`bad event name: ${event}`));
    const key = options.key ?? `${this.#clientId}.${++this.#keys}`;
    if (typeof key !== "string" || key.length > 100) {
      return Promise.reject(new TypeError("an idempotency key is a string of at most 100 characters"));
    }
    return this.#request("emit", { t: "emit", event, data, key }, options.timeout);
  }

  /**
   * Emit `event` without asking for an acknowledgement (no id, no key): for
   * ephemeral things like typing indicators. Dropped when not connected.
   * @param {string} event
   * @param {unknown} [data] JSON (Uint8Array, ArrayBuffer: binary data)
   * @returns {boolean} whether it was written to the socket
   */
  send(event, data = null) {
    if (!isName(event, 100)) throw new TypeError(`bad event name: ${event}`);
    if (this.#state !== "connected") return false;
    const text = stringify({ t: "emit", event, data });
    if (this.#tooLarge(text)) return false;
    this.#ws.send(text);
    return true;
  }

  /**
   * Answer the hub's `call`s named `event` with `handler(data)` (one handler an
   * event; a new one replaces the old). Its return value (or what its promise
   * resolves to) is the reply; a throw is an error reply, `rejected` with the
   * Error's message (or the HubError's own code). Calls nobody handles get
   * `unknown_event`.
   * @param {string} event
   * @param {(data: any, meta: {event: string}) => unknown} handler
   * @returns {() => void} a function that removes the handler
   */
  handle(event, handler) {
    this.#handlers.set(event, handler);
    return () => {
      if (this.#handlers.get(event) === handler) this.#handlers.delete(event);
    };
  }

  // -- Rooms ------------------------------------------------------------------------

  /**
   * Ask to join `room` (the hub's `authorize_join` decides). Sends the last known
   * position in the room, if any, so what was missed is replayed. Resolves with
   * `{room, offset, epoch, recovered}` once the room's replays (if any) have been
   * delivered; rejects with a {@link HubError} (`not_allowed`, `too_many_rooms`,
   * `timeout`, …). A room joined this way is rejoined after a reconnect that does
   * not resume the session.
   * @param {string} room
   * @param {{offset?: number, epoch?: string, timeout?: number}} [options] a position
   *   to recover from (e.g. saved in localStorage) instead of the last one seen
   * @returns {Promise<JoinResult>}
   *
   * @typedef {{room: string, offset?: number, epoch?: string, recovered: boolean | null}} JoinResult
   */
  join(room, options = {}) {
    if (!isName(room, 200)) return Promise.reject(new TypeError(`bad room name: ${room}`));
    const frame = { t: "join", room };
    if (typeof options.offset === "number" && typeof options.epoch === "string") {
      Object.assign(frame, { offset: options.offset, epoch: options.epoch });
    }
    return this.#request("join", frame, options.timeout);
  }

  /**
   * Leave `room`. Resolves once the hub confirms; the room is not rejoined after
   * a reconnect, even if the confirmation never comes.
   * @param {string} room
   * @param {{timeout?: number}} [options]
   * @returns {Promise<any>}
   */
  leave(room, options = {}) {
    if (!isName(room, 200)) return Promise.reject(new TypeError(`bad room name: ${room}`));
    this.#own.delete(room);
    return this.#request("leave", { t: "leave", room }, options.timeout);
  }

  /**
   * The rooms the session is in, each with the last position seen there:
   * `{offset, epoch}` (both undefined for a room without history). A snapshot.
   * While reconnecting, the rooms it was in (to be resumed or rejoined).
   * @type {ReadonlyMap<string, {offset?: number, epoch?: string}>}
   */
  get rooms() {
    return new Map([...this.#rooms].map(([room, position]) => [room, { ...position }]));
  }

  /**
   * Call `listener(change)` whenever the session enters or leaves a room, whoever
   * asked: `{type: "joined", room, recovered, offset?, epoch?}` or
   * `{type: "left", room, error?}`. `recovered` is `true` when the publications
   * missed since the last position follow (as events with `meta.replay`), `false`
   * when they cannot (history too short, epoch changed: reload the room's state),
   * `null` when there was no position (a first join: load the room's state).
   * @param {(change: RoomChange) => void} listener
   * @returns {() => void} a function that removes the listener
   *
   * @typedef {{type: "joined", room: string, recovered: boolean | null, offset?: number, epoch?: string}
   *   | {type: "left", room: string, error?: HubError}} RoomChange
   */
  onRoom(listener) {
    return subscribe(this.#roomListeners, listener);
  }

  // -- Presence ---------------------------------------------------------------------

  /**
   * Who is in `room` now, by user id: `{info}` as the hub's `on_connect` set it
   * (a user with several connections is one member). A snapshot; empty for a
   * room without presence or not joined.
   * @param {string} room
   * @returns {ReadonlyMap<string, {info: any}>}
   */
  presence(room) {
    return new Map(this.#presence.get(room) ?? []);
  }

  /**
   * Call `listener(members, {joins, leaves, full})` whenever the presence of `room`
   * changes: `members` as {@link Hub#presence} returns it, `joins`/`leaves` the
   * members that came and went (Maps by user id), `full` true when the hub sent the
   * whole state (after a join or reconnect) rather than a diff.
   * @param {string} room
   * @param {(members: ReadonlyMap<string, {info: any}>, diff: PresenceDiff) => void} listener
   * @returns {() => void} a function that removes the listener
   *
   * @typedef {{joins: ReadonlyMap<string, {info: any}>, leaves: ReadonlyMap<string, {info: any}>, full: boolean}} PresenceDiff
   */
  onPresence(room, listener) {
    let listeners = this.#presenceListeners.get(room);
    if (!listeners) this.#presenceListeners.set(room, (listeners = new Set()));
    const off = subscribe(listeners, listener);
    return () => {
      off();
      if (listeners.size === 0 && this.#presenceListeners.get(room) === listeners) {
        this.#presenceListeners.delete(room);
      }
    };
  }

  // -- Connecting -------------------------------------------------------------------

  async #open() {
    const generation = ++this.#generation;
    // The attempt, from asking for the credentials to the welcome, has connectTimeout.
    this.#connectTimer = setTimeout(() => {
      const seconds = this.#options.connectTimeout / 1000;
      // Slow credentials are not the URL's fault; a socket without a welcome is.
      this.#lost(generation, 1006, `no welcome within ${seconds} s`, this.#ws !== null);
    }, this.#options.connectTimeout);
    let auth;
    try {
      const { auth: given } = this.#options;
      auth = typeof given === "function" ? await given() : given;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#emitError(new HubError("internal", `auth failed: ${error?.message ?? error}`));
      this.#lost(generation, undefined, "auth failed", false);
      return;
    }
    if (generation !== this.#generation) return; // closed or restarted meanwhile
    let ws;
    const url = this.#urls[this.#index];
    try {
      ws = new WebSocket(url, PROTOCOL);
    } catch (error) {
      this.#toFailed(undefined, `bad URL ${url}: ${error.message}`);
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      const hello = { t: "hello", v: VERSION };
      if (auth !== undefined) hello.auth = auth;
      if (this.#session) hello.session = this.#session;
      const rooms = {};
      let any = false;
      for (const [room, { offset, epoch }] of this.#rooms) {
        if (typeof offset === "number" && typeof epoch === "string") {
          rooms[room] = { offset, epoch };
          any = true;
        }
      }
      if (any) hello.rooms = rooms;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (message) => {
      if (this.#ws === ws && typeof message.data === "string") this.#receive(message.data);
    };
    ws.onclose = ({ code, reason }) => {
      if (this.#ws !== ws) return;
      if (code >= 4400 && code <= 4499) this.#toFailed(code, reason);
      else this.#lost(generation, code, reason);
    };
  }

  /** Forget the current socket (closing it), its timers and what was in flight on it. */
  #drop(code, reason) {
    this.#generation += 1;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#watchdog);
    this.#retryTimer = this.#connectTimer = this.#watchdog = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        ws.close(code); // a reason over 123 bytes of UTF-8 is refused
      }
    }
    for (const request of this.#requests.values()) {
      if (request.internal) this.#finish(request, null, null); // rejoins are redone
      else request.sent = false;
    }
  }

  /**
   * The connection was lost (or an attempt failed): retry after the backoff. An
   * attempt that reached for its URL (`tried`) and got no welcome moves on to the
   * next URL; during the first connection, at once, until each was tried.
   */
  #lost(generation, code, reason, tried = true) {
    if (generation !== this.#generation) return;
    const welcomed = this.#state === "connected";
    this.#drop(1000, reason);
    if (tried && !welcomed && this.#urls.length > 1) {
      this.#index = (this.#index + 1) % this.#urls.length;
      if (this.#state === "connecting" && ++this.#tried < this.#urls.length) {
        this.#open(); // still "connecting": no state change to report
        return;
      }
    }
    const info = { code, reason, attempt: this.#attempt + 1 };
    if (this.#options.reconnect === false) {
      this.#failRequests("closed", `disconnected: ${describe(code, reason)}`);
      this.#stopWindowListening();
      this.#setState("disconnected", { ...info, attempt: 0 });
      return;
    }
    const { initial, max, factor, jitter } = this.#options.reconnect;
    this.#attempt += 1;
    const base = Math.min(max, initial * factor ** (this.#attempt - 1));
    const delay = Math.round(base * (1 - jitter * Math.random()));
    this.#setState("reconnecting", { ...info, delay });
    const next = this.#generation;
    this.#retryTimer = setTimeout(() => {
      if (next === this.#generation) this.#open();
    }, delay);
  }

  /** Refused for good (44xx): no reconnect until the application says so. */
  #toFailed(code, reason) {
    this.#drop(1000, reason);
    this.#stopWindowListening();
    this.#session = null; // a refused client starts a new session if it comes back
    this.#failRequests("closed", `the hub refused the connection: ${describe(code, reason)}`);
    this.#setState("failed", { code, reason, attempt: 0 });
  }

  #listenToWindow() {
    if (this.#windowListeners || typeof globalThis.addEventListener !== "function") return;
    const online = () => {
      if (this.#state === "reconnecting" && this.#retryTimer !== null) {
        clearTimeout(this.#retryTimer);
        this.#retryTimer = null;
        this.#open(); // the network is back: do not wait out the backoff
      } else if (this.#state === "connected" && this.#offlineWhileConnected) {
        this.#offlineWhileConnected = false;
        this.reconnect(); // the socket may have died silently while offline
      }
    };
    const offline = () => {
      if (this.#state === "connected") this.#offlineWhileConnected = true;
    };
    globalThis.addEventListener("online", online);
    globalThis.addEventListener("offline", offline);
    this.#windowListeners = { online, offline };
  }

  #stopWindowListening() {
    const listeners = this.#windowListeners;
    if (!listeners) return;
    globalThis.removeEventListener("online", listeners.online);
    globalThis.removeEventListener("offline", listeners.offline);
    this.#windowListeners = null;
  }

  #setState(state, info) {
    this.#state = state;
    const frozen = Object.freeze(info);
    for (const listener of [...this.#stateListeners]) safely(listener, state, frozen);
  }

  #emitError(error) {
    for (const listener of [...this.#errorListeners]) safely(listener, error);
  }

  /** Restart the dead-connection timer: `silenceLimit` ms without any message. */
  #watch() {
    clearTimeout(this.#watchdog);
    this.#watchdog = null;
    if (!this.#silenceLimit) return;
    const generation = this.#generation;
    const left = this.#lastHeard + this.#silenceLimit - performance.now();
    this.#watchdog = setTimeout(() => {
      if (generation !== this.#generation) return;
      if (performance.now() - this.#lastHeard >= this.#silenceLimit) {
        this.#lost(generation, 1006, `no message for ${this.#silenceLimit / 1000} s`);
      } else {
        this.#watch();
      }
    }, Math.max(0, left) + 5);
  }

  // -- Receiving --------------------------------------------------------------------

  #receive(text) {
    this.#lastHeard = performance.now();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this.#emitError(new HubError("bad_message", "the hub sent a frame that is not JSON"));
      return;
    }
    if (!message || typeof message !== "object") return;
    if ("data" in message && text.includes('"$binary"')) message.data = untag(message.data);
    if (this.#replayUntil.size) this.#endReplays(message);
    switch (message.t) {
      case "welcome":
        return this.#onWelcome(message);
      case "event":
        return this.#onEvent(message);
      case "ack":
        return this.#onAck(message);
      case "ping":
        return this.#ws.send('{"t":"pong"}');
      case "joined":
        return this.#onJoined(message);
      case "left":
        return this.#onLeft(message);
      case "presence":
        return this.#onPresence(message);
      case "call":
        return this.#onCall(message);
      case "error":
        return this.#emitError(HubError.fromWire(message));
      default:
      // unknown types are ignored (forward compatibility)
    }
  }

  #onWelcome(message) {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    const resumed = message.resumed === true;
    this.#session = isObject(message.session) ? message.session : null;
    this.#user = isObject(message.user) ? message.user : null;
    this.#limits = isObject(message.limits) ? message.limits : {};
    const { interval, timeout } = isObject(message.heartbeat) ? message.heartbeat : {};
    this.#silenceLimit = interval > 0 ? (interval + (timeout > 0 ? timeout : interval)) * 1000 : 0;
    this.#watch();
    const current = new Set(Array.isArray(message.rooms) ? message.rooms : []);
    // Rooms the application did not join itself that the session is no longer in.
    for (const room of [...this.#rooms.keys()]) {
      if (!current.has(room) && !this.#own.has(room)) this.#removeRoom(room);
    }
    this.#attempt = 0;
    this.#offlineWhileConnected = false;
    this.#setState("connected", { attempt: 0, resumed });
    if (this.#state !== "connected") return; // a listener closed or reconnected
    // Rejoin (with the last position, to recover) the rooms of a session not resumed.
    for (const room of this.#own) {
      if (!current.has(room)) {
        this.#request("join", { t: "join", room }, undefined, true).then(null, (error) => {
          if (error.code === "closed") return;
          this.#own.delete(room);
          this.#removeRoom(room, error);
          this.#emitError(error);
        });
      }
    }
    // Then what waits, in the order it was asked for.
    for (const request of [...this.#requests.values()]) {
      if (request.sent || request.internal) continue;
      const { room } = request.frame;
      if (request.kind === "join" && current.has(room)) {
        request.awaitJoined = true; // the session is in it already: its `joined` follows
      } else if (request.kind === "leave" && !current.has(room) && !this.#rooms.has(room)) {
        this.#finish(request, { room }, null); // not in it any more
      } else {
        this.#write(request);
      }
    }
  }

  #onEvent(message) {
    const { event, data, room, offset, epoch } = message;
    const meta = { event };
    if (typeof room === "string") {
      meta.room = room;
      if (typeof offset === "number") {
        meta.offset = offset;
        meta.epoch = epoch;
        const position = this.#rooms.get(room);
        if (position) {
          if (position.epoch === epoch && offset <= position.offset) return; // seen already
          position.offset = offset;
          position.epoch = epoch;
        }
        const until = this.#replayUntil.get(room);
        if (until !== undefined) {
          meta.replay = true; // #endReplays let it through: offset <= until
          if (offset >= until) this.#replayUntil.delete(room);
        }
      }
    }
    const listeners = this.#eventListeners.get(event);
    if (listeners) for (const listener of [...listeners]) safely(listener, data, meta);
  }

  /**
   * A room's replayed publications come right after its `joined`, one after the
   * other; the first message that is not one of them ends the replay. The position
   * then moves up to the `joined` offset: the hub may have left out publications
   * this session was skipped for, which it will never send.
   */
  #endReplays(message) {
    for (const [room, until] of this.#replayUntil) {
      const { t, room: where, offset } = message;
      if (t === "event" && where === room && typeof offset === "number" && offset <= until) continue;
      this.#replayUntil.delete(room);
      const position = this.#rooms.get(room);
      if (position && typeof position.offset === "number" && position.offset < until) {
        position.offset = until;
      }
    }
  }

  #onAck(message) {
    const request = this.#requests.get(message.id);
    if (!request || !request.sent) return; // late (timed out) or not ours
    if (message.error !== undefined && message.error !== null) {
      this.#finish(request, null, HubError.fromWire(message.error));
      return;
    }
    const data = message.data ?? null;
    const { room } = request.frame;
    if (request.kind === "join") {
      this.#own.add(room);
    } else if (request.kind === "leave") {
      this.#own.delete(room);
      if (this.#rooms.has(room)) this.#removeRoom(room);
    }
    this.#finish(request, data, null);
  }

  #onJoined(message) {
    const { room, offset, epoch } = message;
    if (typeof room !== "string") return;
    const recovered = typeof message.recovered === "boolean" ? message.recovered : null;
    const hasPosition = typeof offset === "number" && typeof epoch === "string";
    // The position the hub recovered from: the last one seen, or the one a join gave.
    let known = this.#rooms.get(room);
    if (!known) {
      for (const request of this.#requests.values()) {
        const { frame } = request;
        if (request.kind === "join" && frame.room === room && typeof frame.offset === "number") {
          known = { offset: frame.offset, epoch: frame.epoch };
        }
      }
    }
    if (recovered === true && known && hasPosition) {
      // The missed publications follow: advance the position as they arrive.
      this.#rooms.set(room, { offset: known.offset, epoch: known.epoch });
      if (offset > known.offset) this.#replayUntil.set(room, offset);
    } else {
      this.#rooms.set(room, hasPosition ? { offset, epoch } : {});
      this.#replayUntil.delete(room);
    }
    const change = { type: "joined", room, recovered };
    if (hasPosition) Object.assign(change, { offset, epoch });
    for (const listener of [...this.#roomListeners]) safely(listener, Object.freeze(change));
    // A join the session had made already (before a resumed reconnect) is answered now.
    for (const request of [...this.#requests.values()]) {
      if (request.awaitJoined && request.frame.room === room) {
        this.#own.add(room);
        const result = { room, recovered };
        if (hasPosition) Object.assign(result, { offset, epoch });
        this.#finish(request, result, null);
      }
    }
  }

  #onLeft(message) {
    if (typeof message.room !== "string") return;
    this.#own.delete(message.room);
    this.#removeRoom(message.room);
  }

  #removeRoom(room, error) {
    const had = this.#rooms.delete(room);
    this.#replayUntil.delete(room);
    const members = this.#presence.get(room);
    if (members) {
      this.#presence.delete(room);
      if (members.size) this.#presenceChanged(room, new Map(), new Map(), members, false);
    }
    if (!had) return;
    const change = { type: "left", room };
    if (error) change.error = error;
    for (const listener of [...this.#roomListeners]) safely(listener, Object.freeze(change));
  }

  #onPresence(message) {
    const { room } = message;
    if (typeof room !== "string") return;
    const before = this.#presence.get(room) ?? new Map();
    const joins = new Map();
    const leaves = new Map();
    let members;
    const full = isObject(message.state);
    if (full) {
      members = new Map(Object.entries(message.state));
      for (const [id, member] of members) {
        if (!before.has(id) || JSON.stringify(before.get(id)) !== JSON.stringify(member)) {
          joins.set(id, member);
        }
      }
      for (const [id, member] of before) if (!members.has(id)) leaves.set(id, member);
    } else {
      // Diffs are idempotent: one that changes nothing (a joiner's own join, which
      // its full state listed already) is applied but not reported.
      members = new Map(before);
      for (const [id, member] of Object.entries(isObject(message.joins) ? message.joins : {})) {
        if (!before.has(id) || JSON.stringify(before.get(id)) !== JSON.stringify(member)) {
          joins.set(id, member);
        }
        members.set(id, member);
      }
      for (const [id, member] of Object.entries(isObject(message.leaves) ? message.leaves : {})) {
        if (members.delete(id)) leaves.set(id, member);
      }
      if (joins.size === 0 && leaves.size === 0) {
        this.#presence.set(room, members);
        return;
      }
    }
    this.#presence.set(room, members);
    this.#presenceChanged(room, members, joins, leaves, full);
  }

  #presenceChanged(room, members, joins, leaves, full) {
    const listeners = this.#presenceListeners.get(room);
    if (!listeners) return;
    const snapshot = new Map(members);
    const diff = Object.freeze({ joins, leaves, full });
    for (const listener of [...listeners]) safely(listener, snapshot, diff);
  }

  async #onCall({ id, event, data }) {
    const ws = this.#ws;
    if (typeof id !== "number") return;
    const handler = this.#handlers.get(event);
    let reply;
    if (!handler) {
      reply = { t: "ack", id, error: { code: "unknown_event", message: `no handler for ${event}` } };
    } else {
      try {
        reply = { t: "ack", id, data: (await handler(data, { event })) ?? null };
      } catch (error) {
        const code = error instanceof HubError ? error.code : "rejected";
        reply = { t: "ack", id, error: { code, message: String(error?.message ?? error) } };
        if (error instanceof HubError && error.field !== undefined) reply.error.field = error.field;
        if (error?.details !== undefined) reply.error.details = error.details;
      }
    }
    if (this.#ws !== ws || this.#state !== "connected") return; // that connection is gone
    let text;
    try {
      text = stringify(reply);
    } catch (error) {
      const message = `the reply to ${event} is not JSON: ${error.message}`;
      text = JSON.stringify({ t: "ack", id, error: { code: "internal", message } });
    }
    ws.send(text);
  }

  // -- Requests ---------------------------------------------------------------------

  #request(kind, frame, timeout = this.#options.ackTimeout, internal = false) {
    return new Promise((resolve, reject) => {
      if (this.#state === "disconnected" || this.#state === "failed") {
        reject(new HubError("closed", `the hub connection is ${this.#state}`));
        return;
      }
      if (this.#state !== "connected" && !internal) {
        let waiting = 0;
        for (const request of this.#requests.values()) if (!request.sent) waiting += 1;
        if (waiting >= this.#options.buffer) {
          reject(new HubError("buffer_full", `${waiting} requests wait for the connection already`));
          return;
        }
      }
      const id = this.#nextId++;
      frame.id = id;
      const request = { id, kind, frame, text: null, resolve, reject, timer: null, sent: false };
      request.internal = internal;
      request.awaitJoined = false;
      if (kind === "join" && frame.offset === undefined) {
        const position = this.#rooms.get(frame.room);
        if (typeof position?.offset === "number" && typeof position.epoch === "string") {
          frame.offset = position.offset;
          frame.epoch = position.epoch;
        }
      }
      try {
        request.text = stringify(frame);
      } catch (error) {
        reject(new TypeError(`the data is not JSON: ${error.message}`));
        return;
      }
      if (Number.isFinite(timeout)) {
        request.timer = setTimeout(() => {
          const seconds = Math.round(timeout) / 1000;
          this.#finish(request, null, new HubError("timeout", `no reply within ${seconds} s`));
        }, timeout);
      }
      this.#requests.set(id, request);
      if (this.#state === "connected") this.#write(request);
    });
  }

  #write(request) {
    if (this.#tooLarge(request.text)) {
      const limit = this.#limits.max_payload;
      this.#finish(request, null, new HubError("too_large", `over the hub's ${limit} bytes`));
      return;
    }
    request.sent = true;
    request.awaitJoined = false;
    this.#ws.send(request.text);
  }

  /** Whether a frame is over the hub's max_payload (counted in UTF-8 bytes). */
  #tooLarge(text) {
    const limit = this.#limits.max_payload;
    if (typeof limit !== "number" || text.length * 3 <= limit) return false;
    return text.length > limit || new TextEncoder().encode(text).length > limit;
  }

  #finish(request, data, error) {
    if (this.#requests.get(request.id) !== request) return;
    this.#requests.delete(request.id);
    clearTimeout(request.timer);
    if (error) request.reject(error);
    else request.resolve(data);
  }

  #failRequests(code, message) {
    for (const request of [...this.#requests.values()]) {
      this.#finish(request, null, new HubError(code, message));
    }
  }
}

// -- Helpers ----------------------------------------------------------------------

function resolveUrl(url) {
  const base = globalThis.location?.href;
  const resolved = base === undefined ? new URL(String(url)) : new URL(String(url), base);
  if (resolved.protocol === "http:") resolved.protocol = "ws:";
  else if (resolved.protocol === "https:") resolved.protocol = "wss:";
  resolved.hash = "";
  return resolved.href;
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
}

function isName(value, limit) {
  // 1 to `limit` characters, no control characters (C0, DEL, C1)
  return (
    typeof value === "string" &&
    value.length > 0 &&
    value.length <= limit &&
    !/[\u0000-\u001f\u007f-\u009f]/.test(value)
  );
}

/** JSON with binary data as tagged objects, `{"$binary": "<base64>"}`. */
function stringify(value) {
  return JSON.stringify(value, tagBinary);
}

function tagBinary(key, value) {
  if (value instanceof ArrayBuffer) value = new Uint8Array(value);
  else if (ArrayBuffer.isView(value) && !(value instanceof Uint8Array)) {
    value = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (!(value instanceof Uint8Array)) return value;
  let text = "";
  for (let i = 0; i < value.length; i += 0x8000) {  // fromCharCode takes so many arguments
    text += String.fromCharCode(...value.subarray(i, i + 0x8000));
  }
  return { $binary: btoa(text) };
}

/** `value` with each tagged object (its one key `$binary`, valid base64) a Uint8Array. */
function untag(value) {
  if (Array.isArray(value)) return value.map(untag);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "$binary" && typeof value.$binary === "string") {
    try {
      const text = atob(value.$binary);
      const bytes = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      return bytes;
    } catch {
      return value;  // not base64: the application's own object
    }
  }
  for (const key of keys) value[key] = untag(value[key]);
  return value;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function describe(code, reason) {
  return [code, reason].filter((part) => part !== undefined && part !== "").join(" ") || "no reason";
}

function subscribe(set, listener) {
  if (typeof listener !== "function") throw new TypeError("a listener is a function");
  const entry = (...args) => listener(...args); // the same function may be added twice
  set.add(entry);
  return () => set.delete(entry);
}

/** Call an application callback; its exception is reported, not thrown into the client. */
function safely(listener, ...args) {
  try {
    listener(...args);
  } catch (error) {
    if (typeof globalThis.reportError === "function") globalThis.reportError(error);
    else setTimeout(() => { throw error; });
  }
}
