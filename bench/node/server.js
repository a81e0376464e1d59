// Node's socket.io 4 server for bench/realtime.py: the same app and contract as
// bench/realtime_servers.py (join "bench" on connect; "fanout" emits "tick" with
// the data to the room; "echo" acks with the data). Listens on 127.0.0.1 on a free
// port, prints "PORT <n>", exits when stdin closes or on SIGTERM.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer, {
  serveClient: false,
  transports: ["websocket"],
  perMessageDeflate: false, // the default, said out loud
});

io.on("connection", (socket) => {
  socket.join("bench");
  socket.on("fanout", (data) => {
    io.to("bench").emit("tick", data);
  });
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
});

httpServer.listen({ host: "127.0.0.1", port: 0, backlog: 2048 }, () => {
  process.stdout.write(`PORT ${httpServer.address().port}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
