// A minimal Node socket.io 4.x fan-out server, the reference point for the
// Frontdesk server benchmark (crates/bench, `server-bench`).
//
// It mirrors what clinic-server does for a broadcast, and nothing more:
// - WebSocket transport only, path /socket.io/, the same heartbeat timings
//   (ping every 25 s, 20 s timeout) and the same 64 KiB payload limit;
// - a CONNECT must carry `{"token": "..."}` (only its presence is checked);
// - every socket joins a tenant room and a user room, as clinic-server's do;
// - `POST /emit` with `{"event": "...", "data": {...}}` emits that event once
//   to the tenant room and answers `{"sockets": <connected count>}`;
// - `POST /gc` runs a full garbage collection (needs `node --expose-gc`) so the
//   benchmark reads the resident memory of live objects, not of garbage.
//
// Usage: node --expose-gc fanout-server.mjs [--port N]   (default: 0, a free port)
// The first line on stdout is `fanout-server listening on http://127.0.0.1:<port>`.

import { createServer } from "node:http";
import { Server } from "socket.io";

const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
const TENANT_ROOM = "t:demo";

const http = createServer((req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method !== "POST" || (req.url !== "/emit" && req.url !== "/gc")) {
    // socket.io answers its own path before this handler runs.
    return reply(404, { error: "not found" });
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (req.url === "/gc") {
      if (typeof global.gc === "function") global.gc();
      return reply(200, { gc: typeof global.gc === "function" });
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      return reply(400, { error: `invalid JSON: ${e.message}` });
    }
    if (typeof body.event !== "string") {
      return reply(400, { error: "`event` must be a string" });
    }
    io.to(TENANT_ROOM).emit(body.event, body.data ?? null);
    reply(200, { sockets: io.engine.clientsCount });
  });
});

const io = new Server(http, {
  path: "/socket.io/",
  transports: ["websocket"],
  serveClient: false,
  pingInterval: 25_000,
  pingTimeout: 20_000,
  maxHttpBufferSize: 64 * 1024,
});

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (typeof token === "string" && token.length > 0) return next();
  next(new Error('missing auth token: send {"token": "<access token>"}'));
});

io.on("connection", (socket) => {
  socket.join([TENANT_ROOM, `u:demo:${socket.handshake.auth.user ?? "bench"}`]);
});

http.listen(port, "127.0.0.1", () => {
  const { port: bound } = http.address();
  console.log(`fanout-server listening on http://127.0.0.1:${bound}`);
});

const stop = () => {
  io.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
