// Drives the clinic server with the standard JavaScript socket.io-client.
// Usage: node client-smoke.mjs <server url> <access token> <bad token> <thread id>
// Prints one JSON line per step; exits non-zero on any failure.
import { io } from "socket.io-client";

const [url, token, badToken, thread] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const fail = (why) => { say({ step: "failed", why: String(why) }); process.exit(1); };
setTimeout(() => fail("timed out"), 20000);

const opts = (t) => ({ transports: ["websocket"], reconnection: false, auth: { token: t } });

// A bad token is refused at CONNECT with a readable message.
await new Promise((resolve) => {
  const s = io(url, opts(badToken));
  s.on("connect", () => fail("bad token accepted"));
  s.on("connect_error", (err) => { say({ step: "refused", message: err.message }); s.close(); resolve(); });
});

const s = io(url, opts(token));
await new Promise((resolve) => {
  s.on("connect", () => { say({ step: "connected", id: s.id }); resolve(); });
  s.on("connect_error", (err) => fail(err.message));
});

const ack = await s.timeout(5000).emitWithAck("presence", { state: "away" });
if (!ack.ok) fail(`presence ack: ${JSON.stringify(ack)}`);
say({ step: "ack", ack });

// A durable event made through REST arrives on the socket.
const got = new Promise((resolve) => s.on("message.created", resolve));
const res = await fetch(`${url}/api/threads/${thread}/messages`, {
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "Idempotency-Key": "js-1" },
  body: JSON.stringify({ client_id: "js-1", body: "hello from socket.io-client" }),
});
if (res.status !== 201) fail(`POST message: ${res.status} ${await res.text()}`);
const env = await got;
say({ step: "event", type: env.type, seq: env.seq, body: env.data.body });
s.close();
say({ step: "done" });
process.exit(0);
