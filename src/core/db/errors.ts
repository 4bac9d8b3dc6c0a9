/**
 * SQLSTATEs the service tells apart, by name
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html). A whole class is matched by
 * its first two characters (see SQLSTATE_CLASS).
 */
export const SQLSTATE = {
  UNIQUE_VIOLATION: "23505",
  TOO_MANY_CONNECTIONS: "53300",
  LOCK_NOT_AVAILABLE: "55P03",
  QUERY_CANCELED: "57014",
  ADMIN_SHUTDOWN: "57P01",
  CRASH_SHUTDOWN: "57P02",
  CANNOT_CONNECT_NOW: "57P03",
} as const;

export const SQLSTATE_CLASS = {
  CONNECTION_EXCEPTION: "08",
  DATA_EXCEPTION: "22",
  INTEGRITY_CONSTRAINT_VIOLATION: "23",
  TRANSACTION_ROLLBACK: "40",
} as const;

type Wrapped = { code?: unknown; severity?: unknown; constraint?: unknown; constraint_name?: unknown; name?: unknown; message?: unknown; cause?: unknown };

/** `error` and the errors it wraps, outermost first: drizzle wraps the driver's error in its own. */
export function* causeChain(error: unknown): Generator<Wrapped> {
  // Bounded: nothing stops a cause chain from looping.
  let e = error;
  for (let hops = 0; e !== null && typeof e === "object" && hops < 5; hops++) {
    yield e as Wrapped;
    e = (e as Wrapped).cause;
  }
}

/** The SQLSTATE of `error`, or of the driver error it wraps; undefined when none is a database error. */
export function sqlStateOf(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/** True when `error` (or the driver error it wraps) is a unique violation, optionally of one constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  for (const e of causeChain(error)) {
    if (e.code === SQLSTATE.UNIQUE_VIOLATION) return !constraint || (e.constraint ?? e.constraint_name) === constraint;
  }
  return false;
}
