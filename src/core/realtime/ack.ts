import type { ErrorCode } from "../errors";

/** The answer to every client→server event that passes a callback. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: ErrorCode; message: string; details?: unknown } };
