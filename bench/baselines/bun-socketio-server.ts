/**
 * What Socket.IO itself costs on Bun, as a reference for the service's memory per socket: the
 * Node peer's connection path (the same HS256 token check, joins the user's rooms, announces
 * `connected`) on the engine the service uses (@socket.io/bun-engine, with the service's patch),
 * with nothing of the service's own: no database, no Redis, no features, no per-socket state.
 *
 * Run with `bun bench/baselines/bun-socketio-server.ts`; AUTH_JWT_SECRET must be set. Prints its
 * port on stdout.
 */
import { Server as Engine } from "@socket.io/bun-engine";
import { Server } from "socket.io";
import { tokenCheck } from "./token-check.mjs";

const engine = new Engine({ path: "/socket.io/", pingInterval: 25_000, pingTimeout: 20_000 });
const io = new Server({ serveClient: false });
io.bind(engine);

io.use(tokenCheck);

io.on("connection", (socket) => {
  const userId: string = socket.data.userId;
  socket.join(`user:${userId}`);
  socket.emit("connected", { userId, conversations: [] });
});

const { fetch, websocket } = engine.handler();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 60,
  fetch: (req, srv) => (new URL(req.url).pathname === "/health" ? new Response("ok") : fetch(req, srv)),
  websocket,
});
console.log(server.port);
