import { invalid } from "./errors";

/** A keyset position: a time, and the id that orders rows of the same time. Opaque to clients. */
export type Cursor = { at: Date; id: string };
export const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.at.toISOString(), c.id])).toString("base64url");
/**
 * What toISOString gives for a year 1–9999. Anything else JavaScript parses (years ±275760, year 0)
 * Postgres refuses, so it must not get that far.
 */
const CURSOR_TIME = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export function decodeCursor(value: string): Cursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as [unknown, unknown];
    if (typeof at !== "string" || !CURSOR_TIME.test(at) || typeof id !== "string" || !/^[0-9a-f-]{36}$/i.test(id)) throw new Error();
    const date = new Date(at);
    // Round-trips only if every field was in range (no month 13, no 25:00).
    if (Number.isNaN(date.getTime()) || date.toISOString() !== at) throw new Error();
    return { at: date, id };
  } catch {
    throw invalid("cursor is not one this API returned", [{ path: "/cursor", message: "malformed" }]);
  }
}
