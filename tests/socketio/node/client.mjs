// socket.io-client 4 under Node, driven by tests/socketio/test_node_client.py:
// `node client.mjs <url> <scenario>` prints one JSON line per observation.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, scenario] = process.argv.slice(2);
const out = (what) => console.log(JSON.stringify(what));
const timeout = setTimeout(() => { out({ error: "scenario timed out" }); process.exit(2); }, 10000);
const done = (socket) => { socket.disconnect(); clearTimeout(timeout); };
// Buffers as {buffer: [bytes]}, to tell them from arrays in the JSON printed.
const bytes = (value) => {
  if (Buffer.isBuffer(value)) return { buffer: [...value] };
  if (Array.isArray(value)) return value.map(bytes);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bytes(v)]));
  }
  return value;
};
const upgraded = (socket) => new Promise((resolve) => {
  if (socket.io.engine.transport.name === "websocket") resolve();
  else socket.io.engine.once("upgrade", resolve);
});

const scenarios = {
  // Default options: polling first, then the upgrade; acks both ways.
  async defaults() {
    const socket = io(url);
    let opened;
    socket.io.on("open", () => { opened = socket.io.engine.transport.name; });
    socket.on("question", (data, reply) => reply(data.q * 7));
    await new Promise((resolve) => socket.on("connect", resolve));
    out({ connected: socket.id, transport: opened });
    out({ ack: await socket.emitWithAck("echo", { n: 1 }) });
    await upgraded(socket);
    out({ transport: socket.io.engine.transport.name });
    out({ ack: await socket.emitWithAck("echo", "after the upgrade") });
    out({ asked: await socket.emitWithAck("ask.me") });
    done(socket);
  },
  async websocket() {
    const socket = io(url, { transports: ["websocket"] });
    await new Promise((resolve) => socket.on("connect", resolve));
    out({ transport: socket.io.engine.transport.name });
    out({ ack: await socket.emitWithAck("echo", [1, 2]) });
    done(socket);
  },
  async refused() {
    const socket = io(url, { auth: { token: "nope" } });
    const error = await new Promise((resolve) => socket.on("connect_error", resolve));
    out({ connect_error: error.message, data: error.data });
    done(socket);
  },
  // Joins a room, says it is ready, prints what the room sends.
  async room() {
    const socket = io(url);
    socket.onAny((event, ...args) => out({ event, args }));
    await new Promise((resolve) => socket.on("connect", resolve));
    out({ ack: await socket.emitWithAck("enter", "lobby") });
    out({ ready: true });
    await new Promise((resolve) => socket.on("disconnect", resolve));
    clearTimeout(timeout);
  },
  // Joins "news", then follows commands on stdin: "drop" (the transport fails),
  // "reconnect <url>" (to the same or another node), "quit".
  async recovery() {
    clearTimeout(timeout);
    const socket = io(url, { reconnection: false });
    socket.onAny((event, ...args) => out({ event, args }));
    // Said in the handler: events that come right behind the CONNECT reply follow it.
    const connected = () => new Promise((resolve) => socket.once("connect", () => {
      out({ connected: socket.id, recovered: Boolean(socket.recovered) });
      resolve();
    }));
    await connected();
    out({ ack: await socket.emitWithAck("enter", "news") });
    for await (const line of createInterface({ input: process.stdin })) {
      const [command, arg] = line.split(" ");
      if (command === "drop") {
        const reason = new Promise((resolve) => socket.once("disconnect", resolve));
        socket.io.engine.close();
        out({ disconnected: await reason });
      } else if (command === "reconnect") {
        socket.io.uri = arg;
        const done = connected();
        socket.connect();
        await done;
      } else {
        socket.disconnect();
        break;
      }
    }
    process.stdin.destroy();
  },
  async binary() {
    const socket = io(url);
    await new Promise((resolve) => socket.on("connect", resolve));
    const reply = await socket.emitWithAck("size", { name: "f", blob: Buffer.from([1, 2, 3, 250]) });
    out({ ack: reply });
    done(socket);
  },
  // Bytes from the server: a handler's ack, session.emit and a room emit, with
  // the default transports, then surely over the WebSocket. Buffers are printed as {buffer: [...]}.
  async binaryOut() {
    const socket = io(url);
    const pushed = () => new Promise((resolve) => socket.once("pushed", resolve));
    const blobbed = () => new Promise((resolve) => socket.once("blobbed", resolve));
    await new Promise((resolve) => socket.on("connect", resolve));
    out({ ack: bytes(await socket.emitWithAck("blob", 3)) });  // polling, or upgraded already
    let got = pushed();
    socket.emit("push");
    out({ pushed: bytes(await got) });
    await socket.emitWithAck("enter", "lobby");
    got = blobbed();
    socket.emit("room.blob", "lobby");
    out({ blobbed: bytes(await got) });
    await upgraded(socket);
    out({ transport: socket.io.engine.transport.name, ack: bytes(await socket.emitWithAck("blob", 2)) });
    got = blobbed();
    socket.emit("room.blob", "lobby");
    out({ blobbed: bytes(await got) });
    done(socket);
  },
  // "/" and "/admin" (with its own auth) through one Manager: one Engine.IO
  // session. Prints each socket's events, then leaves "/admin" only.
  async namespaces() {
    const root = io(url);
    const admin = io(url + "/admin", { auth: { token: "admin" } });
    for (const [name, socket] of [["/", root], ["/admin", admin]]) {
      socket.onAny((event, ...args) => event !== "question" && out({ ns: name, event, args }));
    }
    admin.on("question", (data, reply) => reply({ answered: "on /admin", data }));
    await Promise.all([root, admin].map((s) => new Promise((resolve) => s.on("connect", resolve))));
    out({ root: root.id, admin: admin.id, shared: root.io === admin.io });
    out({ ack: await root.emitWithAck("echo", 1) });
    out({ ack: await admin.emitWithAck("whoami") });
    out({ ack: await admin.emitWithAck("enter", "ops") });
    out({ ack: await admin.emitWithAck("ask.me") });
    admin.emit("shout", { room: "ops", text: "to /admin" });
    await new Promise((resolve) => admin.once("shouted", resolve));
    admin.disconnect();
    out({ ack: await root.emitWithAck("echo", "/ goes on") });
    done(root);
  },
  // "/" and "/admin" with recovery: both join "news", then commands on stdin as
  // in recovery ("drop", "reconnect", "quit"), for both namespaces at once.
  async recoverNamespaces() {
    clearTimeout(timeout);
    const sockets = { "/": io(url, { reconnection: false }) };
    sockets["/admin"] = io(url + "/admin", { reconnection: false, auth: { token: "a" } });
    const connected = () => Promise.all(Object.values(sockets).map(
      (socket) => new Promise((resolve) => socket.once("connect", resolve)),
    ));
    for (const [ns, socket] of Object.entries(sockets)) {
      socket.onAny((event, ...args) => out({ ns, event, arg: args[0] }));
      socket.on("connect", () => out({ ns, connected: socket.id, recovered: Boolean(socket.recovered) }));
    }
    await connected();
    for (const socket of Object.values(sockets)) await socket.emitWithAck("enter", "news");
    out({ ready: true });
    for await (const line of createInterface({ input: process.stdin })) {
      if (line === "drop") {
        const gone = Promise.all(Object.values(sockets).map(
          (socket) => new Promise((resolve) => socket.once("disconnect", resolve)),
        ));
        sockets["/"].io.engine.close();
        out({ disconnected: await gone });
      } else if (line === "reconnect") {
        const done = connected();
        for (const socket of Object.values(sockets)) socket.connect();
        await done;
        out({ reconnected: true });
      } else {
        for (const socket of Object.values(sockets)) socket.disconnect();
        break;
      }
    }
    process.stdin.destroy();
  },
  async unknown() {
    const socket = io(url + "/nope");
    const error = await new Promise((resolve) => socket.on("connect_error", resolve));
    out({ connect_error: error.message });
    done(socket);
  },
};

await scenarios[scenario]();
