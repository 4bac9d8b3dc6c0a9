/**
 * What a socket could cost on Bun without Socket.IO's server objects: the same connection path
 * as bun-socketio-server.ts (HS256 token check, the user's room, `connected`), speaking the
 * Engine.IO 4 / Socket.IO 5 protocol itself on Bun.serve websockets. A socket is its websocket and
 * a small `data` object; rooms are Bun topics; one timer pings every socket (a published "2") and
 * ends those that did not answer the previous ping. Websocket transport only: no long-polling,
 * acks, binary packets or namespaces. A measuring stick for the bench, not a server to deploy.
 *
 * Run with `bun bench/baselines/lean-socketio-server.ts`; AUTH_JWT_SECRET must be set. Prints its
 * port on stdout.
 */
import type { ServerWebSocket } from "bun";
import { jwtVerify } from "jose";

const key = new TextEncoder().encode(process.env.AUTH_JWT_SECRET ?? "");
const PING_INTERVAL = 25_000;
const PING_TIMEOUT = 20_000;
type Data = { sid: string; userId: string | null; pongs: number };

let pingRound = 0;
const sockets = new Set<ServerWebSocket<Data>>();
setInterval(() => {
  pingRound++;
  server.publish("engine:ping", "2");
  setTimeout(() => {
    for (const ws of sockets) if (ws.data.pongs < pingRound) ws.close();
  }, PING_TIMEOUT);
}, PING_INTERVAL);

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 60,
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname !== "/socket.io/" || url.searchParams.get("transport") !== "websocket") return new Response(null, { status: 400 });
    if (srv.upgrade(req, { data: { sid: Bun.randomUUIDv7("base64url"), userId: null, pongs: pingRound } })) return undefined;
    return new Response(null, { status: 400 });
  },
  websocket: {
    open(ws) {
      sockets.add(ws);
      ws.subscribe("engine:ping");
      ws.send(`0${JSON.stringify({ sid: ws.data.sid, upgrades: [], pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: 1e6 })}`);
    },
    async message(ws, message) {
      const frame = String(message);
      if (frame === "3") ws.data.pongs = pingRound;
      else if (frame.startsWith("40") && ws.data.userId === null) {
        try {
          const { token } = JSON.parse(frame.slice(2) || "{}");
          const { payload } = await jwtVerify(String(token ?? ""), key, { algorithms: ["HS256"] });
          if (typeof payload.sub !== "string") throw new Error("no subject");
          ws.data.userId = payload.sub;
          ws.subscribe(`user:${payload.sub}`);
          ws.send(`40${JSON.stringify({ sid: ws.data.sid })}`);
          ws.send(`42${JSON.stringify(["connected", { userId: payload.sub, conversations: [] }])}`);
        } catch {
          ws.send(`44${JSON.stringify({ message: "UNAUTHORIZED", data: { code: "UNAUTHORIZED" } })}`);
        }
      }
    },
    close(ws) {
      sockets.delete(ws);
    },
  },
});
console.log(server.port);
