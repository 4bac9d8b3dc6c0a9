import { t } from "elysia";
import { EXTERNAL_ID_PATTERN } from "./auth";
import { invalid } from "./errors";

/** Schemas shared by several features; each feature's model.ts holds the rest. */
export const ExternalId = t.String({ pattern: EXTERNAL_ID_PATTERN, description: "External user id of the host application" });
export const Uuid = t.String({ format: "uuid" });
export const HttpUrl = t.String({ pattern: "^https?://\\S+$", maxLength: 2048 });

const METADATA_MAX_BYTES = 4096;
/** Free-form JSON object the host attaches to a record; bounded in size. */
export const Metadata = t.Record(t.String({ maxLength: 64 }), t.Unknown(), {
  maxProperties: 64,
  description: `JSON object, at most ${METADATA_MAX_BYTES} bytes serialized`,
});

/** TypeBox bounds keys and count; this bounds the whole value, nested parts included. */
export function checkMetadata(value: Record<string, unknown> | undefined, field = "metadata") {
  if (value === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (size > METADATA_MAX_BYTES) {
    throw invalid(`${field} is ${size} bytes; at most ${METADATA_MAX_BYTES} are allowed`, [{ path: `/${field}`, message: "too large" }]);
  }
}

export const Limit = (def: number, max: number) => t.Optional(t.Integer({ minimum: 1, maximum: max, default: def }));

/** `{ data, hasMore, nextCursor }`: the shape of every list. */
export const ListOf = <T extends Parameters<typeof t.Array>[0]>(item: T) =>
  t.Object({ data: t.Array(item), hasMore: t.Boolean(), nextCursor: t.Union([t.String(), t.Null()]) });

export type List<T> = { data: T[]; hasMore: boolean; nextCursor: string | null };
export const listOf = <T>(data: T[], hasMore = false, nextCursor: string | null = null): List<T> => ({ data, hasMore, nextCursor });

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
