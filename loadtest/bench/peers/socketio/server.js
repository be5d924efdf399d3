// The socket.io peer of loadtest/bench/peers.sh: a chat server with the semantics chat-bench's
// `fanout`, `rooms` and `connect` scenarios measure on chat-server, and nothing more.
//
//   emit("join", room, ack)            -> joins the room, then ack({room})
//   emit("send", {room, client_id, content}, ack)
//                                      -> broadcasts "message" {room, client_id, content} to the
//                                         room (the sender included), then ack({client_id})
//
// Configured as socket.io's "Performance tuning" page recommends: WebSocket transport only,
// `bufferutil` and `utf-8-validate` installed (ws loads them by itself), the initial HTTP request
// discarded after the handshake, per-message deflate off (the default). With REDIS_URL set, the
// `@socket.io/redis-adapter` joins this process to the others on that Redis (its README's setup).
//
//   PORT=3000 [REDIS_URL=redis://127.0.0.1:6379] node server.js
// (NODE_PATH points at the node_modules that peers.sh installs under target/.)

"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");

// The same frame limit as chat-bench's (1 MiB) and nats-server's max_payload here.
const MAX_PAYLOAD = 1 << 20;
const MAX_ROOM = 200;

async function main() {
  const port = Number(process.env.PORT || 3000);
  const http = createServer();
  const io = new Server(http, {
    transports: ["websocket"],
    serveClient: false,
    maxHttpBufferSize: MAX_PAYLOAD,
    perMessageDeflate: false,
  });
  // "Discard the initial HTTP request": it would otherwise stay referenced per connection.
  io.engine.on("connection", (raw) => {
    raw.request = null;
  });
  if (process.env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    pub.on("error", (e) => console.error("redis pub:", e.message));
    sub.on("error", (e) => console.error("redis sub:", e.message));
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      if (typeof room !== "string" || room.length > MAX_ROOM) return;
      socket.join(room);
      if (typeof ack === "function") ack({ room });
    });
    socket.on("send", (msg, ack) => {
      if (!msg || typeof msg.room !== "string" || typeof msg.content !== "string") return;
      const { room, client_id, content } = msg;
      io.to(room).emit("message", { room, client_id, content });
      if (typeof ack === "function") ack({ client_id });
    });
  });
  http.listen(port, "127.0.0.1", () => console.log(`socket.io peer on 127.0.0.1:${port}`));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
