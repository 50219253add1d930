// A stand-in clinic server built on the standard Node `socket.io` server (npm),
// speaking the same wire contract as clinic-server for what the engine needs:
// login/refresh, snapshot, replay, and durable events over Socket.IO.
// Usage: node fake-clinic.mjs <port> <state file>
// Control: POST /emit {type, data} appends a durable event and broadcasts it;
// POST /ask emits an event that asks for an ack. Prints one JSON line per thing
// that happens, for the Rust test to read.
import http from "node:http";
import fs from "node:fs";
import { Server } from "socket.io";

const [port, stateFile] = [Number(process.argv[2]), process.argv[3]];
const say = (o) => console.log(JSON.stringify(o));
const state = fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, "utf8")) : { events: [], tokens: 0 };
const save = () => fs.writeFileSync(stateFile, JSON.stringify(state));
const user = { id: "u_node", name: "Node Desk", role: "receptionist" };
const now = () => new Date().toISOString();

function tokens() {
  state.tokens += 1;
  save();
  return { access_token: `node-access-${state.tokens}`, refresh_token: `node-refresh-${state.tokens}`, expires_in: 900, user };
}

function snapshot() {
  return {
    seq: state.events.length ? state.events[state.events.length - 1].seq : 0,
    tenant: { id: "demo", name: "Node Clinic" },
    me: user,
    users: [{ id: "u_node", username: "reception", name: "Node Desk", role: "receptionist" }],
    providers: [], rooms: [], patients: [], appointments: [],
    queue: [], threads: [], messages: [], read_markers: [], notifications: [], presence: [],
  };
}
// The snapshot above starts empty at the latest seq; replaying from 0 gives everything.
// Tests start the engine before any event exists, so both paths agree.

function body(req) {
  return new Promise((resolve) => {
    let b = "";
    req.on("data", (c) => (b += c));
    req.on("end", () => resolve(b ? JSON.parse(b) : {}));
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const json = (status, o) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(o)); };
  if (req.method === "POST" && url.pathname === "/api/auth/login") return json(200, tokens());
  if (req.method === "POST" && url.pathname === "/api/auth/refresh") return json(200, tokens());
  if (req.method === "GET" && url.pathname === "/api/snapshot") return json(200, snapshot());
  if (req.method === "GET" && url.pathname === "/api/events") {
    const after = Number(url.searchParams.get("after"));
    const limit = Number(url.searchParams.get("limit") || 500);
    const latest = state.events.length ? state.events[state.events.length - 1].seq : 0;
    return json(200, { events: state.events.filter((e) => e.seq > after).slice(0, limit), latest_seq: latest });
  }
  if (req.method === "POST" && url.pathname === "/emit") {
    const { type, data } = await body(req);
    const env = { seq: state.events.length + 1, id: `ev-${state.events.length + 1}`, type, tenant: "demo", at: now(), actor: "u_other", data };
    state.events.push(env);
    save();
    io.to("t:demo").emit(type, env);
    say({ emitted: env.seq });
    return json(200, env);
  }
  if (req.method === "POST" && url.pathname === "/ask") {
    const answers = await io.to("t:demo").timeout(5000).emitWithAck("server.check", { question: "alive?" }).catch((e) => [String(e)]);
    say({ acked: answers });
    return json(200, { answers });
  }
  json(404, { type: "not-found", title: "Not Found", status: 404 });
});

const io = new Server(server, { transports: ["websocket"], pingInterval: 300, pingTimeout: 1000 });
io.use((socket, next) => {
  const token = socket.handshake.auth?.token ?? "";
  if (!token.startsWith("node-access-")) return next(new Error("unauthorized: bad token"));
  next();
});
io.on("connection", (socket) => {
  socket.join("t:demo");
  let pongs = 0;
  socket.conn.on("packet", (p) => { if (p.type === "pong") { pongs += 1; if (pongs === 3) say({ pongs: 3 }); } });
  say({ connected: socket.id, auth: Object.keys(socket.handshake.auth).sort() });
  socket.on("presence", (data, ack) => { say({ presence: data.state }); if (typeof ack === "function") ack({ ok: true }); });
  socket.on("disconnect", (reason) => say({ disconnected: reason }));
});

server.listen(port, "127.0.0.1", () => say({ listening: port }));
