import { t } from "elysia";
import { EXTERNAL_ID_PATTERN } from "./auth";
import { invalid } from "./errors";
import { jsonSize, MAX_JSON_DEPTH } from "./json-size";

/** Schemas shared by several features; each feature's model.ts holds the rest. */
export const ExternalId = t.String({ pattern: EXTERNAL_ID_PATTERN, description: "External user id of the host application" });
/**
 * A UUID in its canonical 8-4-4-4-12 form (the `uuid` format alone also takes a `urn:uuid:`
 * prefix), of either case, decoded to lowercase: the ids the database returns, the room names and
 * the echoed payloads then all agree, whichever case a client sent.
 */
export const Uuid = t
  .Transform(t.String({ format: "uuid", pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$" }))
  .Decode((id) => id.toLowerCase())
  .Encode((id) => id);
/** An absolute http(s) URL: no whitespace or control characters. */
export const HttpUrl = t.String({ pattern: "^https?://[^\\s\\x00-\\x1f\\x7f]+$", maxLength: 2048 });

const METADATA_MAX_BYTES = 4096;
const METADATA_KEY_MAX = 64;
/** Free-form JSON object the host attaches to a record; bounded in size. */
export const Metadata = t.Record(t.String({ maxLength: METADATA_KEY_MAX }), t.Unknown(), {
  maxProperties: 64,
  description: `JSON object, at most ${METADATA_MAX_BYTES} bytes serialized`,
});

/** NUL and unpaired surrogates are valid in JSON but Postgres stores neither (text nor jsonb). */
const UNSTORABLE = /\u0000|\p{Cs}/u;

/**
 * Rejects any string, or object key, inside `value` that the database cannot store, so that it
 * is a 400 naming the field rather than a failed query.
 */
export function checkStorable(value: unknown, path: string): void {
  if (typeof value === "string") {
    if (UNSTORABLE.test(value)) throw invalid(`${path.slice(1)} contains a NUL character or an unpaired surrogate`, [{ path, message: "unstorable text" }]);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkStorable(item, `${path}/${i}`));
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      checkStorable(key, path);
      checkStorable(item, `${path}/${key}`);
    }
  }
}

/**
 * TypeBox bounds the key count; this bounds the whole value (nested parts included) and each
 * key, which a Record schema does not check, and keeps out what the database cannot store.
 */
export function checkMetadata(value: Record<string, unknown> | undefined, field = "metadata") {
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(`${field} must be a JSON object`, [{ path: `/${field}`, message: "not an object" }]);
  }
  // Measured without recursion, before anything (checkStorable, the database driver) recurses into it.
  const size = jsonSize(value, METADATA_MAX_BYTES);
  if (size.tooDeep) {
    throw invalid(`${field} is nested more than ${MAX_JSON_DEPTH} levels deep`, [{ path: `/${field}`, message: "too deep" }]);
  }
  if (size.bytes > METADATA_MAX_BYTES) {
    throw invalid(`${field} is more than ${METADATA_MAX_BYTES} bytes of JSON`, [{ path: `/${field}`, message: "too large" }]);
  }
  const longKey = Object.keys(value).find((key) => key.length > METADATA_KEY_MAX);
  if (longKey !== undefined) {
    throw invalid(`${field} keys are at most ${METADATA_KEY_MAX} characters`, [{ path: `/${field}`, message: "key too long" }]);
  }
  checkStorable(value, `/${field}`);
}

/** `?limit=`. Its title names it in validation details: Elysia checks it on its own, unnamed (src/core/http.ts). */
export const Limit = (def: number, max: number) =>
  t.Optional(t.Integer({ title: "limit", minimum: 1, maximum: max, default: def, error: `limit must be an integer from 1 to ${max}` }));

/** `{ data, hasMore, nextCursor }`: the shape of every list. */
export const ListOf = <T extends Parameters<typeof t.Array>[0]>(item: T) =>
  t.Object({ data: t.Array(item), hasMore: t.Boolean(), nextCursor: t.Union([t.String(), t.Null()]) });

export type List<T> = { data: T[]; hasMore: boolean; nextCursor: string | null };
export const listOf = <T>(data: T[], hasMore = false, nextCursor: string | null = null): List<T> => ({ data, hasMore, nextCursor });

/**
 * One page of a list, from rows fetched with `limit + 1`: the extra row is not shown, it only
 * tells that more follow. `view` turns the page's rows into what the API shows; `cursorOf` names
 * the position after the page's last row (in fetch order), for a list that pages on.
 */
export async function pageOf<R, T>(rows: R[], limit: number, view: (page: R[]) => T[] | Promise<T[]>, cursorOf?: (last: R) => string): Promise<List<T>> {
  const page = rows.slice(0, limit);
  const hasMore = rows.length > limit;
  return listOf(await view(page), hasMore, hasMore && cursorOf ? cursorOf(page[page.length - 1]!) : null);
}

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** The latest time toISOString and Postgres agree on. */
const LATEST_TIME = Date.parse("9999-12-31T23:59:59.999Z");

/** Date parsing rolls February 30 over into March: the day must exist in its month. */
function isCalendarDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** An ISO-8601 time that must lie in the future (a mute's or ban's end): 400 naming `path` otherwise. */
export function futureTime(value: string, path: string): Date {
  const time = new Date(value);
  if (Number.isNaN(time.getTime()) || time.getTime() > LATEST_TIME || !isCalendarDate(value)) throw invalid(`${path.slice(1)} must be an ISO-8601 time`, [{ path, message: "not a time" }]);
  if (time.getTime() <= Date.now()) throw invalid(`${path.slice(1)} must be in the future`, [{ path, message: "in the past" }]);
  return time;
}
