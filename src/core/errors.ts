import type { ErrorBody, ErrorCode } from "../client/wire";
import { causeChain, SQLSTATE, SQLSTATE_CLASS } from "./db/errors";

export type { ErrorBody, ErrorCode };

/** The closed set of error codes of the contract (src/client/wire.ts), with the HTTP status each one answers. */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  USER_NOT_FOUND: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const satisfies Record<ErrorCode, number>;

/** The one error type of the service: thrown anywhere, turned into the contract's format at the edge. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Seconds, for RATE_LIMITED (sent as `Retry-After`). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);
export const forbidden = (message: string) => new AppError("FORBIDDEN", message);
export const conflict = (message: string, details?: unknown) => new AppError("CONFLICT", message, details);
/** VALIDATION_ERROR; each field error names its list entry's `index` when its path is inside a list (`/users/3/…`). */
export const invalid = (message: string, fields?: FieldError[]) => new AppError("VALIDATION_ERROR", message, fields && withIndex(fields));

const INTERNAL_BODY: ErrorBody = { code: "INTERNAL", message: "Internal error" };
const UNAVAILABLE_BODY: ErrorBody = { code: "UNAVAILABLE", message: "A backing service is unavailable or overloaded; retry shortly" };

/**
 * Turns anything thrown into the contract's error body. Unknown errors become INTERNAL with no
 * details, so that no stack trace or SQL text ever reaches a client; the caller logs the original.
 * An outage of the database or Redis is UNAVAILABLE (503): the same request may succeed later.
 */
export function toErrorBody(error: unknown): { status: number; body: ErrorBody; expected: boolean } {
  if (error instanceof AppError) return { status: error.status, body: error.toBody(), expected: true };
  if (isOutage(error)) return { status: 503, body: UNAVAILABLE_BODY, expected: false };
  return { status: 500, body: INTERNAL_BODY, expected: false };
}

/**
 * Postgres SQLSTATEs of a server that cannot serve now: connection exceptions (class 08), admin
 * or crash shutdown, "cannot connect now" (starting up), too many connections, the lock and
 * statement timeouts that bound a wait on something stuck, and a deadlock or serialization failure
 * that ran out of attempts (class 40: the write was not made, and may be made again).
 */
const UNAVAILABLE_SQLSTATES = new Set<string>([
  SQLSTATE.ADMIN_SHUTDOWN,
  SQLSTATE.CRASH_SHUTDOWN,
  SQLSTATE.CANNOT_CONNECT_NOW,
  SQLSTATE.TOO_MANY_CONNECTIONS,
  SQLSTATE.LOCK_NOT_AVAILABLE,
  SQLSTATE.QUERY_CANCELED,
]);
const UNAVAILABLE_CLASSES = [SQLSTATE_CLASS.CONNECTION_EXCEPTION, SQLSTATE_CLASS.TRANSACTION_ROLLBACK];
/** Connection failures as postgres.js and Node's sockets report them. */
const UNAVAILABLE_CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
/** ioredis: the connection is gone or not ready yet, or the server did not answer in time. */
const REDIS_GONE = /^(Connection is closed\.|Stream isn't writeable|Command timed out)/;

/** True when `error`, or an error it wraps (drizzle wraps the driver's), is an outage of a backing service. */
function isOutage(error: unknown): boolean {
  for (const e of causeChain(error)) {
    const code = typeof e.code === "string" ? e.code : "";
    if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_CLASSES.some((c) => code.startsWith(c)) || UNAVAILABLE_CONNECTION_CODES.has(code)) return true;
    // A session the server would not start or has ended, whatever its SQLSTATE: a database that
    // does not accept connections now (55000, ALLOW_CONNECTIONS false), say.
    if (e.severity === "FATAL" || e.severity === "PANIC") return true;
    if (e.name === "MaxRetriesPerRequestError") return true;
    if (typeof e.message === "string" && REDIS_GONE.test(e.message)) return true;
  }
  return false;
}

export type FieldError = { path: string; message: string; index?: number };

/** VALIDATION_ERROR naming each failing field, the same for REST bodies and socket payloads. */
export function validationFailure(where: string, fields: FieldError[]): AppError {
  const details = withIndex(fields);
  const first = details[0];
  const message = first ? `Invalid ${where}: ${first.message}${first.path === "/" ? "" : ` (${first.path})`}` : `Invalid ${where}`;
  return new AppError("VALIDATION_ERROR", message, details);
}

/** Batch callers learn which entry failed: `/users/3/name` is entry 3. */
function withIndex(fields: FieldError[]): FieldError[] {
  return fields.map((f) => {
    const index = /^\/\w+\/(\d+)(?:\/|$)/.exec(f.path)?.[1];
    return index === undefined || f.index !== undefined ? f : { ...f, index: Number(index) };
  });
}
