import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Server as Engine } from "@socket.io/bun-engine";
import { Server } from "socket.io";
import type { ErrorCode } from "../../client/wire";
import type { Config } from "../../config";
import { bearerToken, isRevoked, type TokenUser } from "../auth";
import type { Context } from "../context";
import type { RedisClient } from "../store/redis";
import { toErrorBody } from "../errors";
import { type Connecting, ConnectingSockets } from "./connecting";
import type { Fanout } from "./fanout";
import { conversationRoom, userRoom } from "./fanout";
import { type ChatServer, type ChatSocket, createDispatcher, OptionalEmpty, on, type SocketEvents, type SocketFeature, sendError } from "./handlers";
import { RoomPublisher } from "./publisher";

export type { SocketFeature };

export type Realtime = { io: ChatServer; engine: Engine; fanout: Fanout; publisher: RoomPublisher; connecting: ConnectingSockets; close(): Promise<void> };

/**
 * The Socket.IO server on the Bun engine. With Redis, the adapter carries broadcasts and room
 * moves between instances; without it, the in-process adapter serves this instance alone.
 */
export function createRealtime(config: Config, redis: { pub: RedisClient; sub: RedisClient; cluster: boolean } | undefined): Realtime {
  const engine = new Engine({
    path: "/socket.io/",
    maxHttpBufferSize: config.MAX_BODY_BYTES,
    pingInterval: 25_000,
    pingTimeout: 20_000,
    cors: { origin: config.corsOrigins === "*" ? "*" : config.corsOrigins, credentials: config.corsOrigins !== "*" },
    allowRequest: allowedOrigins(config.corsOrigins),
  });
  const io: ChatServer = new Server({
    serveClient: false,
    adapter: redis && redisAdapter(config, redis),
  });
  io.bind(engine);
  const publisher = new RoomPublisher(io);
  const connecting = new ConnectingSockets();
  if (redis) {
    io.on("room:publish", (room, encoded) => {
      if (typeof room === "string" && typeof encoded?.frame === "string" && typeof encoded.packet === "string") publisher.publish(room, encoded);
    });
    // Runs inside the adapter's message handling, where a throw would go unhandled.
    io.on("room:move", (move) => {
      if (Array.isArray(move?.userIds) && typeof move.conversationId === "string") moveSockets(io, connecting, move.userIds, move.conversationId, move.join === true);
    });
    io.on("user:disconnect", (userId, reason) => {
      if (typeof userId !== "string") return;
      // Connected sockets were sent the reason through their user room; a connecting one keeps it.
      connecting.disconnected(userId, isRefusal(reason) ? reason : DELETED);
      io.local.in(userRoom(userId)).disconnectSockets(true);
    });
    io.on("user:revoke", (userId, revokedBefore) => {
      if (typeof userId === "string" && typeof revokedBefore === "number") disconnectRevoked(io, connecting, userId, revokedBefore);
    });
  }
  return {
    io,
    engine,
    fanout: socketFanout(io, Boolean(redis), publisher, connecting),
    publisher,
    connecting,
    // Closes this instance's sockets only (io.disconnectSockets would reach every instance), and
    // without a disconnect packet, so that clients reconnect, to another instance if need be.
    async close() {
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

const DELETED: { code: ErrorCode; message: string } = { code: "USER_NOT_FOUND", message: "The user was deleted" };

const isRefusal = (reason: unknown): reason is { code: ErrorCode; message: string } =>
  typeof (reason as { code?: unknown })?.code === "string" && typeof (reason as { message?: unknown }).message === "string";

/** Tells this instance's sockets of the user whose token is revoked why, then ends them, connecting ones included. */
function disconnectRevoked(io: ChatServer, connecting: ConnectingSockets, userId: string, revokedBefore: number) {
  connecting.revoked(userId, revokedBefore);
  for (const id of io.of("/").adapter.rooms.get(userRoom(userId)) ?? []) {
    const socket = io.of("/").sockets.get(id);
    if (!socket || !isRevoked(socket.data.actor.issuedAt, revokedBefore)) continue;
    sendError(socket, { code: "UNAUTHORIZED", message: "Token was revoked" });
    socket.disconnect(true);
  }
}

/**
 * CORS headers only stop a browser from reading a polling answer, and a WebSocket upgrade is not
 * subject to CORS at all: a request whose Origin is not allowed is refused outright (403, no
 * session), whatever the transport. Requests without an Origin come from non-browser clients.
 */
function allowedOrigins(origins: string[] | "*") {
  if (origins === "*") return undefined;
  const allowed = new Set(origins);
  return async (req: Request) => {
    const origin = req.headers.get("origin");
    if (origin !== null && !allowed.has(origin)) throw "Origin not allowed";
  };
}

/**
 * On one Redis server, classic pub/sub. On a Redis Cluster, sharded pub/sub: a classic PUBLISH
 * there reaches every node of the cluster, a sharded one only the shard that owns the channel.
 * All of an instance's messages share one channel ("static"), so that they keep the order they
 * were sent in (see socketFanout); a channel per room would spread them over the shards.
 */
function redisAdapter(config: Config, redis: { pub: RedisClient; sub: RedisClient; cluster: boolean }) {
  const channel = `${config.REDIS_PREFIX}socket.io`;
  if (redis.cluster) return createShardedAdapter(redis.pub, redis.sub, { channelPrefix: channel, subscriptionMode: "static" });
  return createAdapter(redis.pub, redis.sub, { key: channel });
}

/** Joins (or leaves) the conversation room with every socket of these users on this instance, connecting ones included. */
function moveSockets(io: ChatServer, connecting: ConnectingSockets, userIds: string[], conversationId: string, join: boolean) {
  connecting.moved(userIds, conversationId, join);
  const sockets = io.local.in(userIds.map(userRoom));
  if (join) sockets.socketsJoin(conversationRoom(conversationId));
  else sockets.socketsLeave(conversationRoom(conversationId));
}

/**
 * Room moves and disconnects are applied to this instance's sockets synchronously, then sent to
 * the other instances. (Through the adapter alone, the Redis adapter would apply them here only
 * once its own request came back from Redis, after broadcasts this instance emits at once: a
 * message sent right after a removal could still reach the removed user.) Each instance's
 * broadcasts and these messages leave through one Redis connection, so the others see them in
 * the order they were made.
 */
function socketFanout(io: ChatServer, clustered: boolean, publisher: RoomPublisher, connecting: ConnectingSockets): Fanout {
  const move = (userIds: string[], conversationId: string, join: boolean) => {
    if (userIds.length === 0) return;
    moveSockets(io, connecting, userIds, conversationId, join);
    if (clustered) io.serverSideEmit("room:move", { userIds, conversationId, join });
  };
  return {
    toConversation(conversationId, event, payload, except) {
      const room = conversationRoom(conversationId);
      const excluded = typeof except === "string" ? [except] : (except ?? []);
      if (excluded.length) {
        (io.to(room).except(excluded.map(userRoom)).emit as (e: string, p: unknown) => boolean)(event, payload);
        return;
      }
      // Encoded once, written natively here and, through Redis, by every other instance.
      const encoded = publisher.encode(event, payload);
      publisher.publish(room, encoded);
      if (clustered) io.serverSideEmit("room:publish", room, encoded);
    },
    toUsers(userIds, event, payload) {
      if (userIds.length === 0) return;
      (io.to(userIds.map(userRoom)).emit as (e: string, p: unknown) => boolean)(event, payload);
    },
    async joinConversation(userIds, conversationId) {
      move(userIds, conversationId, true);
    },
    async leaveConversation(userIds, conversationId) {
      move(userIds, conversationId, false);
    },
    async disconnectUser(userId, reason = DELETED) {
      // The reason first, then the disconnect, in this order on every instance.
      sendError(io.to(userRoom(userId)), reason);
      connecting.disconnected(userId, reason);
      io.local.in(userRoom(userId)).disconnectSockets(true);
      if (clustered) io.serverSideEmit("user:disconnect", userId, reason);
    },
    disconnectRevoked(userId, revokedBefore) {
      disconnectRevoked(io, connecting, userId, revokedBefore);
      if (clustered) io.serverSideEmit("user:revoke", userId, revokedBefore);
    },
  };
}

/** The events every socket handles whatever features the service has. */
const coreEvents: SocketEvents = {
  ping: on(OptionalEmpty, () => ({ timestamp: new Date().toISOString() })),
};

/** What a handshake reads, in one statement: the token's user (undefined when not active) and their conversations. */
export type ConnectingUser = { user: TokenUser | undefined; conversationIds: string[] };

/**
 * Authenticates every handshake (auth.token, or an Authorization header for non-browser clients),
 * reading the user and the conversations they are in at once, then hands the socket to each
 * feature, joins the user's rooms and announces `connected`.
 *
 * What a socket holds is kept small, as an instance holds tens of thousands: one listener for all
 * its events and one for its disconnect, each shared by every socket; its token's expiry in one
 * wheel for all sockets; and of the handshake, only what outlives authentication.
 */
export function attachSocketHandlers(
  ctx: Context,
  { io, publisher, connecting }: Pick<Realtime, "io" | "publisher" | "connecting">,
  features: SocketFeature[],
  readConnecting: (userId: string) => Promise<ConnectingUser>,
): void {
  const dispatch = createDispatcher(ctx, [coreEvents, ...features.map((feature) => feature.events)]);
  const expiries = new ExpiryWheel((socket) => {
    sendError(socket, { code: "TOKEN_EXPIRED", message: "Token has expired; reconnect with a fresh one" });
    socket.disconnect(true);
  });
  function disconnected(this: ChatSocket) {
    expiries.remove(this);
    for (const feature of features) feature.disconnected?.(ctx, this);
  }

  // From authentication to the connection: what the handshake read, and the moves noted since.
  const joining = new WeakMap<ChatSocket, { noting: Connecting; conversationIds: string[]; abandoned: () => void }>();

  io.use(async (socket, next) => {
    let abandoned: (() => void) | undefined;
    try {
      const auth = socket.handshake.auth as { token?: unknown } | undefined;
      const token = typeof auth?.token === "string" && auth.token ? auth.token : bearerToken(socket.handshake.headers.authorization);
      const claims = await ctx.auth.verify(token);
      // Socket.IO drops a socket whose client left before it connects, without a word.
      if (socket.conn.readyState === "closed") return next(new Error("Client left"));
      const noting = connecting.open(claims.sub, claims.iat);
      // Nor does such a socket ever connect: it stops being noted when its transport closes.
      abandoned = () => connecting.close(noting, []);
      socket.conn.once("close", abandoned);
      let { user, conversationIds } = await readConnecting(claims.sub);
      // A deletion, suspension or revocation noted during the read may have come before or after
      // it, and one lifted meanwhile (a suspension ended, the user synced again) is not announced
      // at all: the user is read again, after it, and judged as they are then.
      for (let again = 0; noting.refusal && again < REREADS; again++) {
        noting.refusal = undefined;
        ({ user, conversationIds } = await readConnecting(claims.sub));
      }
      socket.data.actor = ctx.auth.admit(claims, user);
      forgetHandshake(socket);
      joining.set(socket, { noting, conversationIds, abandoned });
      next();
    } catch (error) {
      if (abandoned) {
        abandoned();
        socket.conn.off("close", abandoned);
      }
      const { body, expected } = toErrorBody(error);
      if (!expected) ctx.log.error("socket handshake failed", { error });
      next(Object.assign(new Error(body.message), { data: { code: body.code, message: body.message } }));
    }
  });

  io.on("connection", (socket) => {
    const { actor } = socket.data;
    try {
      // Every socket passed the middleware above (sessions are not recovered past it).
      const { noting, conversationIds, abandoned } = joining.get(socket)!;
      joining.delete(socket);
      socket.conn.off("close", abandoned);
      // The moves and disconnects noted until now are applied here (see ConnectingSockets); from
      // the user room on, joined in this same synchronous step, they reach the socket itself.
      const rooms = connecting.close(noting, conversationIds);
      if (noting.refusal) {
        sendError(socket, noting.refusal);
        socket.disconnect(true);
        return;
      }
      publisher.track(socket);
      // Handlers first and synchronously, so that no event the client sends at once is missed.
      socket.join(userRoom(actor.userId));
      socket.onAny(dispatch);
      socket.on("disconnect", disconnected);
      if (actor.tokenExpiresAt !== null) expiries.add(socket, actor.tokenExpiresAt);
      for (const feature of features) feature.connected?.(ctx, socket);
      ctx.metrics.count("socket_connections_total");
      socket.join(rooms.map(conversationRoom));
      socket.emit("connected", { userId: actor.userId, socketId: socket.id, rooms, timestamp: new Date().toISOString() });
    } catch (error) {
      failSetup(ctx, socket, error);
    }
  });
}

/** Reads of a handshake whose user was disconnected during the read before; then the disconnect ends it. */
const REREADS = 2;

const NO_HEADERS = Object.freeze({});
const NO_QUERY = Object.freeze({});
const NO_AUTH = Object.freeze({});

/**
 * Once a socket is authenticated nothing reads its handshake again: its request headers, query,
 * token and time as text (Socket.IO keeps them for the socket's life, the headers and query twice
 * over: in `handshake` and in the engine's copy of the request) are dropped.
 */
function forgetHandshake(socket: ChatSocket) {
  socket.handshake.time = "";
  socket.handshake.headers = NO_HEADERS;
  socket.handshake.query = NO_QUERY;
  socket.handshake.auth = NO_AUTH;
  const request = (socket.conn as unknown as { request?: { headers?: unknown; _query?: unknown } }).request;
  if (request) {
    request.headers = NO_HEADERS;
    request._query = NO_QUERY;
  }
}

const MAX_TIMER_MS = 2_147_483_647;

/**
 * A socket lives no longer than its token: when REST stops accepting it (`exp` plus the leeway,
 * see Actor.tokenExpiresAt) it is told why and disconnected. One timer serves every socket: the
 * sockets wait in sets by the time they expire (tokens expire on whole seconds, so sockets
 * share them), and the timer is armed for the earliest.
 */
class ExpiryWheel {
  private readonly due = new Map<number, Set<ChatSocket>>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedFor = Infinity;

  constructor(private readonly expire: (socket: ChatSocket) => void) {}

  add(socket: ChatSocket, at: number): void {
    let sockets = this.due.get(at);
    if (!sockets) this.due.set(at, (sockets = new Set()));
    sockets.add(socket);
    if (at < this.armedFor) this.arm(at);
  }

  remove(socket: ChatSocket): void {
    const at = socket.data.actor?.tokenExpiresAt;
    if (at == null) return;
    const sockets = this.due.get(at);
    if (!sockets?.delete(socket) || sockets.size) return;
    this.due.delete(at);
    if (this.due.size === 0) this.arm(Infinity);
  }

  private arm(at: number) {
    clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = undefined;
    // Timers hold at most about 24.8 days: a later time re-arms until it comes.
    if (at !== Infinity) this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())));
  }

  private fire() {
    const now = Date.now();
    let next = Infinity;
    const expired: ChatSocket[] = [];
    for (const [at, sockets] of this.due) {
      if (at > now) next = Math.min(next, at);
      else {
        this.due.delete(at);
        expired.push(...sockets);
      }
    }
    this.arm(next);
    for (const socket of expired) this.expire(socket);
  }
}

function failSetup(ctx: Context, socket: ChatSocket, error: unknown) {
  const { body, expected } = toErrorBody(error);
  // An expected refusal (a busy instance's UNAVAILABLE during a reconnect storm) is no fault to log.
  if (!expected) ctx.log.error("socket setup failed", { userId: socket.data.actor?.userId, error });
  sendError(socket, body);
  socket.disconnect(true);
}
