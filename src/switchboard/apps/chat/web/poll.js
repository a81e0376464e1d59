// The chat over plain HTTP: GET /api/history?room=R once, then GET
// /api/messages?room=R&after=ID every poll_interval seconds (the server says how
// often), and POST /api/messages to send. A new message waits on the server until
// the next poll: on average half an interval.

import { ChatView, fetchJSON, now, Rooms, Stats } from "./chat.js";

const stats = new Stats("polling");
const view = new ChatView(send);
const rooms = new Rooms(switchTo);
let current = rooms.current; // the room shown; null: the server's default room
let after = null; // the newest id seen; null until the history is loaded
let interval = 2;
let failures = 0; // failed requests in a row
let timer = null;
let generation = 0; // bumped by a room switch, to drop answers for the old room

const query = (room) => (room === null ? "" : `room=${encodeURIComponent(room)}`);

async function poll() {
  const mine = generation;
  try {
    if (after === null) {
      const q = query(current);
      const history = await fetchJSON(stats, "history fetch", `/api/history${q ? `?${q}` : ""}`);
      if (mine !== generation) return;
      interval = history.poll_interval;
      current = history.room;
      rooms.render(history.rooms);
      rooms.select(current);
      view.configure(history.limits);
      view.reset(history.messages);
      after = history.last_id;
    } else {
      const data = await fetchJSON(stats, "poll", `/api/messages?${query(current)}&after=${after}`);
      if (mine !== generation) return;
      const at = now();
      if (data.last_id < after) {
        after = null; // the server restarted and counts from 1 again: reload
      } else {
        for (const message of data.messages) {
          stats.receive(message, at);
          view.add(message);
        }
        after = data.last_id;
      }
    }
    failures = 0;
    view.status(`polling every ${interval} s`, "connected");
  } catch (error) {
    if (mine !== generation) return;
    if (after === null && current !== null && error.message.startsWith("unknown room")) {
      view.showError(`There is no room #${current}: showing the default room.`);
      current = null; // ask for the server's default room, at once
      timer = setTimeout(poll, 0);
      return;
    }
    failures += 1;
    view.status(`server unreachable (${error.message}): retrying`, "offline");
  }
  const delay = failures ? Math.min(10, interval * 2 ** failures) : interval;
  timer = setTimeout(poll, delay * 1000);
}

function switchTo(room) {
  generation += 1;
  clearTimeout(timer);
  current = room;
  after = null;
  rooms.select(room);
  view.reset([]);
  view.showError("");
  poll();
}

async function send(author, text) {
  const sent = now();
  const room = current;
  stats.sent(author.trim(), sent);
  const data = await fetchJSON(stats, "send", "/api/messages", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ room: room ?? undefined, author, text, sent }),
  });
  if (room === current) view.add(data.message);
}

view.status("loading…", "connecting");
poll();
