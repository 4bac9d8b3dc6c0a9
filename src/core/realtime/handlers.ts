import type { Static, TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Server, Socket } from "socket.io";
import type { Context } from "../context";
import { AppError, toErrorBody, validationFailure } from "../errors";
import type { Ack, ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from "./events";

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

type EventName = keyof ClientToServerEvents;
type AckOf<E extends EventName> = NonNullable<Parameters<ClientToServerEvents[E]>[1]>;
type DataOf<E extends EventName> = Parameters<AckOf<E>>[0] extends infer R ? (R extends { ok: true; data: infer D } ? D : never) : never;

/** Largest socket payload a handler looks at; the engine drops packets above MAX_BODY_BYTES outright. */
export const SOCKET_PAYLOAD_MAX_BYTES = 256 * 1024;
const RATE_WINDOW_MS = 10_000;

const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();
function checker(schema: TSchema) {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, (c = TypeCompiler.Compile(schema)));
  return c;
}

/** Throws VALIDATION_ERROR unless `payload` matches `schema` (the schema REST validates with). */
export function validatePayload<S extends TSchema>(schema: S, payload: unknown): Static<S> {
  const check = checker(schema);
  if (check.Check(payload)) return payload as Static<S>;
  throw validationFailure(
    "payload",
    [...check.Errors(payload)].slice(0, 10).map((e) => ({ path: e.path || "/", message: e.message })),
  );
}

type Window = { count: number; resetAt: number };
const windows = new WeakMap<ChatSocket, Window>();

/** Per-socket flood guard for every event: a fixed window kept in memory. */
function takeEventBudget(socket: ChatSocket, limit: number): void {
  const now = Date.now();
  let w = windows.get(socket);
  if (!w || w.resetAt <= now) windows.set(socket, (w = { count: 0, resetAt: now + RATE_WINDOW_MS }));
  if (++w.count > limit) {
    const retryAfter = Math.ceil((w.resetAt - now) / 1000);
    throw new AppError("RATE_LIMITED", `More than ${limit} events in ${RATE_WINDOW_MS / 1000} s`, { retryAfter }, retryAfter);
  }
}

/** Per-user budget shared by every socket of the user on every instance (through the store). */
export async function takeUserBudget(ctx: Context, userId: string, what: string, limit: number): Promise<void> {
  const { count, resetMs } = await ctx.store.hit(`${what}:${userId}`, RATE_WINDOW_MS);
  if (count > limit) {
    const retryAfter = Math.ceil(resetMs / 1000);
    throw new AppError("RATE_LIMITED", `More than ${limit} ${what} in ${RATE_WINDOW_MS / 1000} s`, { retryAfter }, retryAfter);
  }
}

/**
 * Registers a client→server event: rate limit, size bound, schema validation, then the handler;
 * its result or error goes to the ack callback, or to an `error` event when there is none. This
 * is the one place a socket failure is mapped to the contract's error shape.
 */
export function onEvent<E extends EventName, S extends TSchema>(
  ctx: Context,
  socket: ChatSocket,
  event: E,
  schema: S,
  handler: (payload: Static<S>) => Promise<DataOf<E>> | DataOf<E>,
): void {
  // Typed at the call site through E; Socket.IO's own listener type cannot express the ack.
  (socket as unknown as { on(event: string, listener: (...args: unknown[]) => void): void }).on(event, async (...args: unknown[]) => {
    const last = args[args.length - 1];
    const ack = typeof last === "function" ? (last as (res: Ack<DataOf<E>>) => void) : undefined;
    const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
    const started = performance.now();
    try {
      takeEventBudget(socket, ctx.config.RATE_LIMIT_EVENTS);
      if (payload !== undefined && payload !== null && typeof payload === "object" && JSON.stringify(payload).length > SOCKET_PAYLOAD_MAX_BYTES) {
        throw new AppError("PAYLOAD_TOO_LARGE", `Payload exceeds ${SOCKET_PAYLOAD_MAX_BYTES} bytes`);
      }
      const data = await handler(validatePayload(schema, payload));
      ack?.({ ok: true, data });
    } catch (error) {
      const { body, expected } = toErrorBody(error);
      if (!expected) ctx.log.error("socket event failed", { event, userId: socket.data.actor?.userId, socketId: socket.id, error });
      if (ack) ack({ ok: false, error: body });
      else socket.emit("error", { code: body.code, message: body.message, timestamp: new Date().toISOString() });
    } finally {
      ctx.metrics?.count("socket_events_total", { event });
      ctx.metrics?.observe("socket_event_ms", performance.now() - started);
    }
  });
}
