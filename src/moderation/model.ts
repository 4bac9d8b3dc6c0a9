import { type Static, t } from "elysia";
import { EXTERNAL_ID_PATTERN } from "../core/auth";
import { ExternalId, Limit, ListOf, Uuid } from "../core/schemas";

export const BlockParams = t.Object({ userId: ExternalId });

export const Block = t.Object({ userId: t.String(), createdAt: t.String({ format: "date-time" }) });
export type Block = Static<typeof Block>;
export const BlockList = ListOf(Block);

/** Pages of blocks and bans go in user id order; the cursor is the last id shown. */
export const UserIdPage = t.Object({ limit: Limit(100, 100), cursor: t.Optional(t.String({ maxLength: 512 })) });
export type UserIdPage = Static<typeof UserIdPage>;

const EXTERNAL_ID = new RegExp(EXTERNAL_ID_PATTERN);
export const encodeUserIdCursor = (userId: string) => Buffer.from(userId, "utf8").toString("base64url");
export function decodeUserIdCursor(cursor: string): string | null {
  const userId = Buffer.from(cursor, "base64url").toString("utf8");
  return EXTERNAL_ID.test(userId) && encodeUserIdCursor(userId) === cursor ? userId : null;
}

export const BanParams = t.Object({ id: Uuid, userId: ExternalId });

export const CreateBan = t.Object({
  userId: ExternalId,
  until: t.Optional(t.String({ format: "date-time", maxLength: 64, description: "When the ban ends by itself (ISO-8601, in the future); absent: until lifted" })),
  reason: t.Optional(t.String({ maxLength: 500 })),
});
export type CreateBan = Static<typeof CreateBan>;

export const Ban = t.Object({
  conversationId: t.String({ format: "uuid" }),
  userId: t.String(),
  bannedBy: t.String(),
  until: t.Union([t.String({ format: "date-time" }), t.Null()]),
  reason: t.Union([t.String(), t.Null()]),
  createdAt: t.String({ format: "date-time" }),
});
export type Ban = Static<typeof Ban>;
export const BanList = ListOf(Ban);
