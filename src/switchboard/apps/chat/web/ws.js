// The chat over one WebSocket: the history comes from GET /api/history once the
// socket is open, then the server pushes every new message. If the connection
// drops, reconnect with exponential backoff (0.5 s doubling up to 10 s, jittered)
// and reload the history, so nothing sent meanwhile is missed.

import { byteLength, ChatView, fetchJSON, now, Stats } from "./chat.js";

const stats = new Stats("websocket");
const view = new ChatView(send);
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/chat`;
let socket = null;
let attempts = 0; // failed connections in a row
let lastSent = "";

function connect() {
  view.status(attempts ? `reconnecting (attempt ${attempts + 1})…` : "connecting…", "connecting");
  stats.request("upgrade");
  const ws = new WebSocket(url);
  socket = ws;
  let pending = []; // messages pushed while the history loads

  ws.onopen = async () => {
    attempts = 0;
    view.status("connected", "connected");
    try {
      const history = await fetchJSON(stats, "history fetch", "/api/history");
      view.configure(history.limits);
      view.reset(history.messages);
    } catch (error) {
      view.showError(`Could not load the history: ${error.message}`);
    }
    for (const message of pending) view.add(message);
    pending = null;
  };

  ws.onmessage = (event) => {
    const at = now();
    stats.down(byteLength(event.data));
    const data = JSON.parse(event.data);
    if (data.type === "message") {
      stats.receive(data.message, at);
      if (pending) pending.push(data.message);
      else view.add(data.message);
    } else if (data.type === "error") {
      view.showError(data.error);
      view.restore(lastSent);
    }
  };

  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    const delay = Math.min(10, 0.5 * 2 ** attempts) * (0.8 + 0.4 * Math.random());
    attempts += 1;
    view.status(`disconnected: retrying in ${delay.toFixed(1)} s`, "disconnected");
    setTimeout(connect, delay * 1000);
  };
}

function send(author, text) {
  if (socket?.readyState !== WebSocket.OPEN) {
    throw new Error("Not connected: the message was not sent. Try again once connected.");
  }
  const sent = now();
  const payload = JSON.stringify({ author, text, sent });
  lastSent = text;
  stats.sent(author.trim(), sent);
  stats.up(byteLength(payload));
  socket.send(payload);
}

connect();
