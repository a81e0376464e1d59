// The chat over plain HTTP: GET /api/history once, then GET
// /api/messages?after=ID every poll_interval seconds (the server says how often),
// and POST /api/messages to send. A new message waits on the server until the next
// poll: on average half an interval.

import { ChatView, fetchJSON, now, Stats } from "./chat.js";

const stats = new Stats("polling");
const view = new ChatView(send);
let after = null; // the newest id seen; null until the history is loaded
let interval = 2;
let failures = 0; // failed requests in a row

async function poll() {
  try {
    if (after === null) {
      const history = await fetchJSON(stats, "history fetch", "/api/history");
      interval = history.poll_interval;
      view.configure(history.limits);
      view.reset(history.messages);
      after = history.last_id;
    } else {
      const data = await fetchJSON(stats, "poll", `/api/messages?after=${after}`);
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
    failures += 1;
    view.status(`server unreachable (${error.message}): retrying`, "disconnected");
  }
  const delay = failures ? Math.min(10, interval * 2 ** failures) : interval;
  setTimeout(poll, delay * 1000);
}

async function send(author, text) {
  const sent = now();
  stats.sent(author.trim(), sent);
  const data = await fetchJSON(stats, "send", "/api/messages", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ author, text, sent }),
  });
  view.add(data.message);
}

view.status("loading…", "connecting");
poll();
