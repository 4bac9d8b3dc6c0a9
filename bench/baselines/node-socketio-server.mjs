/**
 * The usual alternative to a chat backend, as a peer for the bench: a minimal Socket.IO 4 server
 * on Node.js with its default engine (`ws`), in-memory rooms, and the same HS256 token check the
 * chat service does. No database, no persistence, no Redis: what it measures is what Socket.IO on
 * Node costs for the same handshakes and the same room broadcasts.
 *
 * Run with `node bench/baselines/node-socketio-server.mjs`; AUTH_JWT_SECRET must be set. Prints
 * its port on stdout. POST /rooms `{ conversationId, userIds }` sets a room's members; sockets of
 * members that connect afterwards join it. `message:send` broadcasts `message:new` to the room.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { Server } from "socket.io";
import { tokenCheck } from "./token-check.mjs";

/** userId → the conversation ids they are in. */
const memberships = new Map();
/** conversationId → last seq. */
const seqs = new Map();

const http = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/rooms") {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const { conversationId, userIds } = JSON.parse(body);
      for (const userId of userIds) memberships.set(userId, [...(memberships.get(userId) ?? []), conversationId]);
      seqs.set(conversationId, 0);
      res.writeHead(204).end();
    });
    return;
  }
  res.writeHead(req.url === "/health" ? 200 : 404).end();
});

const io = new Server(http, { serveClient: false });

io.use(tokenCheck);

io.on("connection", (socket) => {
  const userId = socket.data.userId;
  const conversations = memberships.get(userId) ?? [];
  if (conversations.length) socket.join(conversations);
  socket.emit("connected", { userId, conversations });
  socket.on("message:send", (payload, ack) => {
    const conversationId = payload?.conversationId;
    if (typeof ack !== "function") return;
    if (!socket.rooms.has(conversationId) || typeof payload.content !== "string") {
      ack({ ok: false, error: { code: "NOT_FOUND", message: "Conversation not found" } });
      return;
    }
    const seq = seqs.get(conversationId) + 1;
    seqs.set(conversationId, seq);
    // The chat service's Message shape, so both put the same bytes on the wire.
    const now = new Date().toISOString();
    const message = {
      id: randomUUID(),
      conversationId,
      seq,
      senderId: userId,
      content: payload.content,
      attachments: [],
      replyTo: null,
      parentId: null,
      replyCount: 0,
      lastReplyAt: null,
      mentions: [],
      clientMessageId: payload.clientMessageId ?? null,
      metadata: {},
      reactions: {},
      isEdited: false,
      isDeleted: false,
      createdAt: now,
      updatedAt: now,
    };
    io.to(conversationId).emit("message:new", message);
    ack({ ok: true, data: message });
  });
});

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => console.log(http.address().port));
