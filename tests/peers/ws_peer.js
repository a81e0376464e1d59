// Node's `ws` as a peer of Switchboard, driven by tests/peers/test_node_ws.py.
//
//   node ws_peer.js client URL DEFLATE   run the client scenario, print one JSON result
//   node ws_peer.js server DEFLATE       echo server: prints {"port": N}, then one JSON
//                                        line per closed connection; exits when stdin ends
//
// DEFLATE is 1 or 0 (perMessageDeflate). Every wait is bounded: the process exits with
// status 2 after 30 s whatever happens.
"use strict";

const { WebSocket, WebSocketServer } = require("ws");

setTimeout(() => {
  console.error("ws_peer.js: timed out");
  process.exit(2);
}, 30000).unref();

const pattern = (n) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
  return b;
};

// Open a client; messages queue up in `inbox` and are taken with `recv`.
function open(url, deflate, protocols) {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: deflate });
  const inbox = [];
  const waiting = [];
  ws.on("message", (data, isBinary) => {
    const item = isBinary ? data : data.toString("utf8");
    if (waiting.length) waiting.shift()(item);
    else inbox.push(item);
  });
  ws.recv = () =>
    inbox.length ? Promise.resolve(inbox.shift()) : new Promise((res) => waiting.push(res));
  ws.closed = new Promise((res) =>
    ws.on("close", (code, reason) => res({ code, reason: reason.toString("utf8") })),
  );
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve(ws));
    ws.on("error", reject);
  });
}

const same = (a, b) =>
  typeof a === "string" || typeof b === "string" ? a === b : Buffer.compare(a, b) === 0;

async function client(url, deflate) {
  const result = {};

  // 1. Echoes, fragments, ping; then the server closes with 4000 "bye".
  let ws = await open(url, deflate, ["chat"]);
  result.extensions = ws.extensions;
  result.protocol = ws.protocol;
  const messages = ["Hello", "", "héllo wörld ✓ 😀", "€".repeat(70000), pattern(256),
                    pattern(1000000)];
  result.echoes = [];
  for (const message of messages) {
    ws.send(message);
    result.echoes.push(same(await ws.recv(), message));
  }
  // A fragmented text message and a fragmented binary one (`fin: false` continues).
  ws.send("frag", { fin: false });
  ws.send("mented ✓", { fin: true });
  result.fragmentedText = await ws.recv();
  ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
  ws.send(Buffer.from([]), { binary: true, fin: false });
  ws.send(Buffer.from([3]), { binary: true, fin: true });
  result.fragmentedBinary = [...(await ws.recv())];
  const pong = new Promise((res) => ws.once("pong", (data) => res(data.toString())));
  ws.ping("node ping");
  result.pong = await pong;
  ws.send("close 4000");
  result.serverClose = await ws.closed;

  // 2. The client closes with 4002 "node done".
  ws = await open(url, deflate);
  ws.close(4002, "node done");
  result.clientClose = await ws.closed;

  // 3. A message over the server's 1 MiB limit: the server closes with 1009.
  ws = await open(url, deflate);
  ws.send(pattern(2 * 1024 * 1024));
  result.tooBig = await ws.closed;
  return result;
}

function server(deflate) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: deflate });
  wss.on("listening", () => console.log(JSON.stringify({ port: wss.address().port })));
  wss.on("connection", (ws, request) => {
    const extensions = request.headers["sec-websocket-extensions"] || "";
    ws.on("message", (data, isBinary) => {
      if (!isBinary && data.toString() === "close 4000") ws.close(4000, "bye");
      else if (!isBinary && data.toString() === "fragments please") {
        ws.send("frag", { fin: false });
        ws.send("mented ✓", { fin: true });
      } else ws.send(data, { binary: isBinary });
    });
    ws.on("ping", (data) => console.log(JSON.stringify({ ping: data.toString() })));
    ws.on("close", (code, reason) =>
      console.log(JSON.stringify({ offered: extensions, code, reason: reason.toString() })),
    );
  });
  process.stdin.resume();
  process.stdin.on("end", () => wss.close(() => process.exit(0)));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "client") {
  client(args[0], args[1] === "1").then(
    (result) => {
      console.log(JSON.stringify(result));
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else if (mode === "server") {
  server(args[0] === "1");
} else {
  console.error("usage: node ws_peer.js client URL 0|1 | server 0|1");
  process.exit(64);
}
