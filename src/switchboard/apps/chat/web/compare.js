// The comparison page: the two chat panes (iframes) report what they send, receive
// and request; this page matches each message sent in one pane with its arrival in
// the other and shows the latency, and shows each pane's request counters.

import { formatBytes, NAMES, text } from "./chat.js";

const OTHER = { websocket: "polling", polling: "websocket" };
const frames = {
  websocket: document.getElementById("frame-websocket"),
  polling: document.getElementById("frame-polling"),
};
const sent = new Map(); // "author|sent" -> the pane that sent it
const latency = {
  websocket: { count: 0, total: 0, max: 0 }, // of messages that reached that pane
  polling: { count: 0, total: 0, max: 0 },
};
const started = performance.now();
let test = 0;

window.addEventListener("message", (event) => {
  if (event.origin !== location.origin) return;
  const { chat: kind, pane } = event.data ?? {};
  if (frames[pane]?.contentWindow !== event.source) return;
  if (kind === "stats") showStats(pane, event.data.stats);
  else if (kind === "sent") sent.set(`${event.data.author}|${event.data.sent}`, pane);
  else if (kind === "received") delivered(pane, event.data.message, event.data.at);
});

function showStats(pane, stats) {
  text(`${pane}-requests`, stats.requests);
  text(`${pane}-breakdown`, stats.breakdown);
  text(`${pane}-bytes`, formatBytes(stats.bytesDown));
  text(`${pane}-received`, stats.received);
}

function delivered(pane, message, at) {
  const key = `${message.author}|${message.sent}`;
  const from = sent.get(key);
  if (from !== OTHER[pane]) return; // sent elsewhere, or this pane's own echo
  sent.delete(key);
  const ms = at - message.sent;
  const summary = latency[pane];
  summary.count += 1;
  summary.total += ms;
  summary.max = Math.max(summary.max, ms);
  text(`${pane}-latency`, formatMs(summary.total / summary.count));
  text(`${pane}-latency-max`, formatMs(summary.max));

  const body = document.getElementById("deliveries");
  body.querySelector(".empty-row")?.remove();
  const row = document.createElement("tr");
  row.append(
    cell(String(message.id), "num"),
    cell(message.text, "msg"),
    cell(`${NAMES[from]} → ${NAMES[pane]}`, `col-${pane}`),
    cell(formatMs(ms), "num"),
  );
  body.prepend(row);
}

function cell(content, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = content; // message text is untrusted: never innerHTML
  return td;
}

function formatMs(ms) {
  return ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms).toLocaleString("en")} ms`;
}

// A pane may have reported before this script listened: ask again now (in case it
// has loaded) and when it loads (in case it has not).
for (const frame of Object.values(frames)) {
  const ask = () => frame.contentWindow.postMessage({ report: true }, location.origin);
  frame.addEventListener("load", ask);
  ask();
}

document.getElementById("send-both").addEventListener("click", () => {
  test += 1;
  for (const pane of ["websocket", "polling"]) {
    frames[pane].contentWindow.postMessage(
      { send: `Test ${test} from the ${NAMES[pane]} pane` },
      location.origin,
    );
  }
});

setInterval(() => {
  const seconds = Math.round((performance.now() - started) / 1000);
  const minutes = Math.floor(seconds / 60);
  text("elapsed", `after ${minutes ? `${minutes} min ` : ""}${seconds % 60} s`);
}, 1000);
