// Node's socket.io 4 server for bench/realtime.py: the same app and contract as
// bench/realtime_servers.py (join "bench" on connect; "fanout" emits "tick" with
// the data to the room; "echo" acks with the data). Listens on 127.0.0.1 on a free
// port, prints "PORT <n>", exits when stdin closes or on SIGTERM.
//
// With a Redis URL as its argument (bench/realtime_redis.py: two of these on one
// Redis), it uses @socket.io/redis-adapter with the `redis` client, as socket.io's
// documentation sets it up: one client to publish, a duplicate to subscribe.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const redisUrl = process.argv[2];

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

async function main() {
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pubClient = createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    for (const client of [pubClient, subClient]) {
      client.on("error", (err) => process.stderr.write(`redis: ${err}\n`));
    }
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  httpServer.listen({ host: "127.0.0.1", port: 0, backlog: 2048 }, () => {
    process.stdout.write(`PORT ${httpServer.address().port}\n`);
  });
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
