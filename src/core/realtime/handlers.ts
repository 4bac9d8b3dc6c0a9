import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { TransformDecodeError } from "@sinclair/typebox/value";
import type { Server, Socket } from "socket.io";
import type { Context } from "../context";
import { AppError, type ErrorCode, toErrorBody, validationFailure } from "../errors";
import { dropPrototypeKeys, jsonSize, MAX_JSON_DEPTH } from "../json-size";
import type { AckDataOf } from "../../client/wire";
import type { Ack, ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData, SocketError } from "./events";

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

type EventName = keyof ClientToServerEvents;
type AnyAck = (res: Ack<unknown>) => void;

/**
 * Largest payload a handler looks at (about the bytes of its JSON), far above any valid message.
 * The engine closes a connection whose packet exceeds MAX_BODY_BYTES outright; below that, a
 * client gets a PAYLOAD_TOO_LARGE answer it can act on.
 */
export const SOCKET_PAYLOAD_MAX_BYTES = 256 * 1024;
export const RATE_WINDOW_MS = 10_000;
/** A socket that keeps sending at this multiple of its budget is not a client retrying too fast. */
const FLOOD_FACTOR = 2;

const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();
function checker(schema: TSchema) {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, (c = TypeCompiler.Compile(schema)));
  return c;
}

/** Payload of events that take none: nothing, or an empty object. */
export const OptionalEmpty = Type.Union([Type.Undefined(), Type.Null(), Type.Object({})]);

/**
 * Throws VALIDATION_ERROR unless `payload` matches `schema` (the schema REST validates with), and
 * decodes it as REST does (ids to lowercase).
 */
export function validatePayload<S extends TSchema>(schema: S, payload: unknown): Static<S> {
  const check = checker(schema);
  if (check.Check(payload)) {
    try {
      return check.Decode(payload) as Static<S>;
    } catch (error) {
      // A value can pass the check and still fail its decoding: Elysia's integers also take
      // their text, and "-1" is checked as text before it is decoded against the minimum.
      if (error instanceof TransformDecodeError) throw validationFailure("payload", [{ path: error.path || "/", message: "invalid value" }]);
      throw error;
    }
  }
  throw validationFailure(
    "payload",
    [...check.Errors(payload)].slice(0, 10).map((e) => ({ path: e.path || "/", message: e.message })),
  );
}

type Window = { count: number; resetAt: number };
const windows = new WeakMap<ChatSocket, Window>();

function rateLimited(limit: number, what: string, resetMs: number): AppError {
  const retryAfter = Math.max(1, Math.ceil(resetMs / 1000));
  return new AppError("RATE_LIMITED", `More than ${limit} ${what} in ${RATE_WINDOW_MS / 1000} s`, { retryAfter }, retryAfter);
}

/**
 * Per-socket flood guard for every event, known or not: a fixed window kept in memory. Past the
 * budget each event is refused; far past it the socket is disconnected, so that a runaway client
 * costs one answer per packet for a bounded time only.
 */
function takeEventBudget(socket: ChatSocket, limit: number): void {
  const now = Date.now();
  let w = windows.get(socket);
  if (!w || w.resetAt <= now) windows.set(socket, (w = { count: 0, resetAt: now + RATE_WINDOW_MS }));
  if (++w.count <= limit) return;
  const error = rateLimited(limit, "events", w.resetAt - now);
  if (w.count > limit * FLOOD_FACTOR && socket.connected) {
    sendError(socket, error);
    socket.disconnect(true);
  }
  throw error;
}

/**
 * Per-user budget shared by every socket of the user on every instance (through the store; while
 * Redis is unreachable each instance counts alone, see core/store/local-budgets.ts).
 */
export async function takeUserBudget(ctx: Context, userId: string, what: string, limit: number): Promise<void> {
  const counted = await ctx.store.hit(`${what}:${userId}`, RATE_WINDOW_MS);
  if (counted.count > limit) throw rateLimited(limit, what, counted.resetMs);
}

/** A socket, or a room of sockets (`io.to(room)`). */
type ErrorTarget = { emit(event: "error", error: SocketError): unknown };

/** The one place a socket `error` event is written, in the contract's `{ code, message, timestamp }`. */
export function sendError(target: ErrorTarget, error: { code: ErrorCode; message: string }): void {
  target.emit("error", { code: error.code, message: error.message, timestamp: new Date().toISOString() });
}

/** The contract's answer to a failure: through the ack callback, or as an `error` event. */
function answerFailure(ctx: Context, socket: ChatSocket, event: string, ack: AnyAck | undefined, error: unknown) {
  const { body, expected } = toErrorBody(error);
  if (!expected) ctx.log.error("socket event failed", { event, userId: socket.data.actor?.userId, socketId: socket.id, error });
  if (ack) ack({ ok: false, error: body });
  else if (socket.connected) sendError(socket, body);
}

/** Splits Socket.IO's listener arguments: the payload, and the ack callback when the client asked for one. */
function argsOf(args: unknown[]): { payload: unknown; ack: AnyAck | undefined } {
  const last = args[args.length - 1];
  if (typeof last !== "function") return { payload: args[0], ack: undefined };
  return { payload: args.length > 1 ? args[0] : undefined, ack: last as AnyAck };
}

/**
 * What a client→server event does: the schema its payload is checked against, and the handler
 * that answers it for the socket that sent it. An entry holds no state of its own, so one table
 * serves every socket.
 */
export type SocketEvent<E extends EventName> = {
  readonly schema: TSchema;
  readonly handle: (ctx: Context, socket: ChatSocket, payload: never) => Promise<AckDataOf<E>> | AckDataOf<E>;
};
/** A feature's client events by name: where each one is handled. */
export type SocketEvents = { readonly [E in EventName]?: SocketEvent<E> };

/** One entry of a SocketEvents table: `handle` gets the payload checked against `schema` and decoded. */
export function on<S extends TSchema, R>(schema: S, handle: (ctx: Context, socket: ChatSocket, payload: Static<S>) => R): { schema: S; handle: typeof handle } {
  return { schema, handle };
}

type AnyEvent = { readonly schema: TSchema; readonly handle: (ctx: Context, socket: ChatSocket, payload: never) => unknown };
const EVENTS = Symbol("socket events");
/** A socket's one listener for every client event; shared by all sockets (`this` is the socket). */
export type SocketDispatcher = ((this: ChatSocket, event: unknown, ...args: unknown[]) => void) & { [EVENTS]: ReadonlyMap<string, AnyEvent> };

/**
 * The one pipeline of every client→server event: rate limit, size bound, shutdown, schema
 * validation, then the handler; its result or error goes to the ack callback, or to an `error`
 * event when there is none. This is the one place a socket failure is mapped to the contract's
 * error shape. Events no table names count against the socket's budget like any other, and a
 * client waiting for an ack learns at once that nothing will handle them.
 *
 * Registered on each socket with `onAny`: one function for all sockets, rather than a closure
 * per event per socket.
 */
export function createDispatcher(ctx: Context, tables: SocketEvents[]): SocketDispatcher {
  const events = new Map<string, AnyEvent>();
  for (const table of tables) {
    for (const [name, event] of Object.entries(table) as [string, AnyEvent][]) {
      if (events.has(name)) throw new Error(`socket event "${name}" is handled twice`);
      events.set(name, event);
    }
  }
  function dispatch(this: ChatSocket, event: unknown, ...args: unknown[]) {
    const handler = typeof event === "string" ? events.get(event) : undefined;
    // As Socket.IO's own listeners: an event read after the disconnect is not handled.
    if (handler) {
      if (this.connected) void handleEvent(ctx, this, event as EventName, handler, args);
    } else refuseUnknownEvent(ctx, this, event, args);
  }
  return Object.assign(dispatch, { [EVENTS]: events });
}

async function handleEvent(ctx: Context, socket: ChatSocket, event: EventName, handler: AnyEvent, args: unknown[]): Promise<void> {
  const { payload, ack } = argsOf(args);
  const started = performance.now();
  try {
    takeEventBudget(socket, ctx.config.RATE_LIMIT_EVENTS);
    const size = jsonSize(payload, SOCKET_PAYLOAD_MAX_BYTES);
    if (size.tooDeep) throw new AppError("VALIDATION_ERROR", `Payload is nested more than ${MAX_JSON_DEPTH} levels deep`);
    if (size.bytes > SOCKET_PAYLOAD_MAX_BYTES) throw new AppError("PAYLOAD_TOO_LARGE", `Payload exceeds ${SOCKET_PAYLOAD_MAX_BYTES} bytes`);
    // The same rule as REST bodies: keys named like Object.prototype's members are ignored.
    dropPrototypeKeys(payload);
    // Shutting down: refuse rather than start work the instance may not finish; the client
    // retries after reconnecting to another instance.
    if (ctx.drain.draining) throw new AppError("UNAVAILABLE", "Server is shutting down; reconnect and retry");
    const work = Promise.resolve().then(() => handler.handle(ctx, socket, validatePayload(handler.schema, payload) as never));
    const data = await ctx.drain.track(work);
    ack?.({ ok: true, data });
  } catch (error) {
    answerFailure(ctx, socket, event, ack, error);
  } finally {
    ctx.metrics.count("socket_events_total", { event });
    ctx.metrics.observe("socket_event_ms", performance.now() - started);
  }
}

/** Runs inside Socket.IO's packet handling: nothing may escape from here. */
function refuseUnknownEvent(ctx: Context, socket: ChatSocket, event: unknown, args: unknown[]): void {
  try {
    const name = String(event).slice(0, 64);
    const { ack } = argsOf(args);
    try {
      takeEventBudget(socket, ctx.config.RATE_LIMIT_EVENTS);
      throw new AppError("VALIDATION_ERROR", `Unknown event "${name}"`);
    } catch (error) {
      answerFailure(ctx, socket, name, ack, error);
    }
  } catch (error) {
    ctx.log.error("unknown event handling failed", { error });
  }
}

/**
 * The client events a connected socket handles, each with the schema its payload is checked
 * against: read from the socket itself, so that tools and tests that walk every event (fuzzing,
 * the authorization matrix) see an event the day a feature adds it to its table.
 */
export function handledEvents(socket: ChatSocket): Map<string, TSchema> {
  const events = new Map<string, TSchema>();
  for (const listener of socket.listenersAny()) {
    const table = (listener as Partial<SocketDispatcher>)[EVENTS];
    if (table) for (const [name, event] of table) events.set(name, event.schema);
  }
  return events;
}

/** What a feature adds to every authenticated socket. */
export type SocketFeature = {
  /** The client events it handles, by name. */
  events: SocketEvents;
  /** Runs for each authenticated socket, synchronously, before it handles any event. */
  connected?(ctx: Context, socket: ChatSocket): void;
  /** Runs once, when the socket disconnects. */
  disconnected?(ctx: Context, socket: ChatSocket): void;
};
