// Node's `ws` as a benchmark server for bench/run.py and bench/memory.py, with the
// same contract as bench/servers.py: `node ws_server.js MODE`, MODE echo, deflate
// or broadcast. It listens on 127.0.0.1 on a free port, prints "PORT <n>", and exits
// when stdin closes (so it never outlives the load generator) or on SIGTERM.
//
// echo: every message back as it came (no compression, no size limit).
// deflate: the same with permessage-deflate on, with ws's defaults for everything
//   else (level 6, 15-bit windows, memLevel 8, messages under 1 KiB uncompressed).
// broadcast: every connection is a receiver until it sends "go"; it then becomes
//   the controller, and each "go" sends a 32-byte text to every receiver, carrying
//   the monotonic clock in ns at the call (process.hrtime is CLOCK_MONOTONIC, the
//   clock of Python's time.monotonic_ns()).
"use strict";

const { WebSocketServer } = require("ws");

const mode = process.argv[2];
if (!["echo", "deflate", "broadcast"].includes(mode)) {
  process.stderr.write("usage: node ws_server.js echo|deflate|broadcast\n");
  process.exit(2);
}

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  backlog: 2048,
  maxPayload: 0, // no limit, as for every server in the run
  perMessageDeflate: mode === "deflate",
  clientTracking: false,
});

const receivers = new Set();

wss.on("connection", (ws) => {
  if (mode !== "broadcast") {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  receivers.add(ws);
  ws.on("close", () => receivers.delete(ws));
  ws.on("message", (data, isBinary) => {
    if (isBinary || data.toString() !== "go") return;
    receivers.delete(ws);
    const payload = String(process.hrtime.bigint()).padEnd(32);
    for (const client of receivers) client.send(payload); // ws's own broadcast idiom
  });
});

wss.on("listening", () => process.stdout.write(`PORT ${wss.address().port}\n`));

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
