// The chat over the real-time hub (one WebSocket, protocol switchboard.v1), with the
// hub's browser client, served by the hub itself at /rt/client.js.
//
// - Identity: the display name is the `auth` of every connection attempt; changing
//   it reconnects, so the hub (and presence) know the new name.
// - Rooms: the page is in one hub room at a time, `chat:<name>`. On `joined` with
//   `recovered` null (a first join) or false (the missed messages cannot be
//   replayed: the server restarted, or too much was missed), the page loads the
//   room's history over HTTP. With `recovered` true, the missed messages follow as
//   replayed events: no request at all.
// - Reconnecting is the client's job (backoff with jitter, session resume,
//   recovery); the page only shows the state. The badge reconnects at once.

import { connect } from "/rt/client.js";
import { byteLength, ChatView, fetchJSON, now, Rooms, Stats } from "./chat.js";

const stats = new Stats("websocket");
const view = new ChatView(send);
const rooms = new Rooms(switchTo);
const badge = document.getElementById("status");
const notice = document.getElementById("notice");
const presenceList = document.getElementById("presence");
const presenceCount = document.getElementById("presence-count");

let current = rooms.current; // the chat room shown, e.g. "lobby"
let loaded = false; // whether the list holds the current room's history
let pending = null; // messages pushed while the history loads (null: not loading)
let loads = 0; // bumped per history load and room switch, to drop stale answers
let catchUp = null; // {room, count} while recovered messages are replayed
let offPresence = () => {};

const topic = (room) => `chat:${room}`;

stats.request("upgrade");
const hub = connect("/rt", { auth: () => ({ name: view.author.value }) });

// -- Connection state ---------------------------------------------------------------

const LABELS = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  disconnected: "offline",
  failed: "offline",
};

hub.onState((state, info) => {
  // Each "reconnecting" is one attempt scheduled: one more upgrade request.
  if (state === "reconnecting" || state === "connecting") stats.request("upgrade");
  showState(state);
  if (state === "connected") {
    const name = hub.user?.info?.name;
    // The hub trims and cuts names: show the one it uses.
    if (typeof name === "string" && document.activeElement !== view.author) {
      view.author.value = name;
    }
    say(""); // a `joined` with what was recovered follows
  } else if (state === "reconnecting") {
    const why = [info.code, info.reason].filter((part) => part).join(" ");
    const wait = ((info.delay ?? 0) / 1000).toFixed(1);
    say(`Connection lost${why ? ` (${why})` : ""}: retrying in ${wait} s, attempt ${info.attempt}.`);
  } else if (state === "failed") {
    say(`The server refused the connection (${info.reason || info.code}). Press the badge to try again.`);
  } else if (state === "disconnected") {
    say("Disconnected. Press the badge to reconnect.");
  }
});

function showState(state) {
  // The browser knows it has no network before the socket notices.
  const offline = navigator.onLine === false || state === "disconnected" || state === "failed";
  badge.textContent = offline ? "offline" : LABELS[state];
  badge.dataset.state = offline ? "offline" : state;
  // Who is online is only known while connected: dim the list otherwise.
  presenceList.dataset.stale = String(state !== "connected");
}

window.addEventListener("offline", () => showState(hub.state));
window.addEventListener("online", () => showState(hub.state));
badge.addEventListener("click", () => hub.reconnect());
showState(hub.state);

function say(message) {
  notice.textContent = message;
}

hub.onError((error) => view.showError(error.message));

// -- Rooms and history --------------------------------------------------------------

hub.onRoom((change) => {
  if (change.room !== topic(current)) return;
  if (change.type === "left") {
    if (change.error) view.showError(`Left #${current}: ${change.error.message}`);
    return;
  }
  if (change.recovered === true && loaded) {
    catchUp = { room: current, count: 0 };
    say("Reconnected: nothing was missed.");
    return;
  }
  catchUp = null;
  if (change.recovered === false) {
    say("Reconnected, but the missed messages could not be replayed: history reloaded.");
  }
  loadHistory();
});

async function loadHistory() {
  const room = current;
  const load = ++loads;
  pending = [];
  try {
    const history = await fetchJSON(
      stats,
      "history fetch",
      `/api/history?room=${encodeURIComponent(room)}`,
    );
    if (load !== loads) return;
    view.configure(history.limits);
    rooms.render(history.rooms);
    view.reset(history.messages);
    loaded = true;
  } catch (error) {
    if (load !== loads) return;
    view.showError(`Could not load the history: ${error.message}`);
  }
  for (const message of pending) view.add(message);
  pending = null;
}

async function switchTo(room) {
  const previous = current;
  current = room;
  loads += 1; // an answer for the previous room is dropped
  loaded = false;
  pending = [];
  catchUp = null;
  rooms.select(room);
  view.reset([]);
  view.showError("");
  watchPresence(room);
  hub.leave(topic(previous)).catch(() => {}); // fails only if we were not in it
  try {
    await hub.join(topic(room)); // its `joined` loads the history
  } catch (error) {
    if (current === room) view.showError(`Could not join #${room}: ${error.message}`);
  }
}

async function start() {
  watchPresence(current);
  try {
    await hub.join(topic(current));
  } catch (error) {
    if (error.code !== "not_allowed") {
      view.showError(`Could not join #${current}: ${error.message}`);
      return;
    }
    // No such room (an old link, say): go to the server's default room.
    const wanted = current;
    const history = await fetchJSON(stats, "history fetch", "/api/history");
    rooms.render(history.rooms);
    await switchTo(history.room);
    view.showError(`There is no room #${wanted}: this is #${history.room}.`);
  }
}

// -- Messages -----------------------------------------------------------------------

hub.on("chat.message", (message, meta) => {
  if (meta.room !== topic(current)) return;
  const at = now();
  stats.down(byteLength(JSON.stringify(message)));
  stats.receive(message, at);
  if (meta.replay && catchUp?.room === current) {
    catchUp.count += 1;
    const n = catchUp.count;
    say(`Reconnected: caught up on ${n} missed message${n === 1 ? "" : "s"}.`);
  }
  if (pending) pending.push(message);
  else view.add(message);
});

async function send(author, text) {
  const sent = now();
  const data = { room: current, text, sent };
  stats.sent(hub.user?.info?.name ?? author.trim(), sent);
  stats.up(byteLength(JSON.stringify(data)));
  if (hub.state !== "connected") {
    view.showError("Not connected: the message goes out when the connection is back…");
  }
  try {
    await hub.emit("chat.send", data); // resolves with the ack: {id}
  } catch (error) {
    throw new Error(explain(error));
  }
  view.showError("");
}

/** A sentence for an emit's HubError (the hub's own message for refusals). */
function explain(error) {
  switch (error.code) {
    case "rate_limited":
      return `Too many messages: try again in ${(error.retryAfter ?? 1).toFixed(1)} s.`;
    case "timeout":
      return "No answer from the server in time: the message may not have been sent.";
    case "closed":
      return "Not connected: the message was not sent.";
    default:
      return error.message;
  }
}

// -- Presence -----------------------------------------------------------------------

function watchPresence(room) {
  offPresence();
  offPresence = hub.onPresence(topic(room), showPresence);
  showPresence(hub.presence(topic(room)));
}

function showPresence(members) {
  const me = hub.user?.id;
  const people = [...members].map(([id, member]) => {
    const name = member?.info?.name;
    return { id, name: typeof name === "string" ? name : "anonymous" };
  });
  people.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  presenceList.replaceChildren(
    ...people.map(({ id, name }) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      item.append(label);
      if (id === me) {
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = " (you)";
        item.append(you);
      }
      return item;
    }),
  );
  presenceCount.textContent = String(people.length);
}

// A new name is a new identity: reconnect so the hub (and everyone's list) know it.
view.author.addEventListener("change", () => {
  if (view.author.value.trim() !== hub.user?.info?.name) hub.reconnect();
});

start();
