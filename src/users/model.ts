import { type Static, t } from "elysia";
import { ExternalId, HttpUrl, Metadata } from "../core/schemas";
import { Message } from "../messages/model";

export const UserSync = t.Object({
  externalUserId: ExternalId,
  name: t.Optional(t.Union([t.String({ maxLength: 200 }), t.Null()])),
  avatarUrl: t.Optional(t.Union([HttpUrl, t.Null()])),
  metadata: t.Optional(Metadata),
  /**
   * Grows with each change on the host (its updated-at in ms, say): a sync whose version is not
   * above the stored one changes nothing, so that syncs arriving out of order cannot undo newer ones.
   */
  version: t.Optional(t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
});
export type UserSync = Static<typeof UserSync>;

export const UserSyncBatch = t.Object({ users: t.Array(UserSync, { minItems: 1, maxItems: 1000 }) });

export const User = t.Object({
  externalUserId: t.String(),
  name: t.Union([t.String(), t.Null()]),
  avatarUrl: t.Union([t.String(), t.Null()]),
  metadata: t.Record(t.String(), t.Unknown()),
  createdAt: t.String({ format: "date-time" }),
  updatedAt: t.String({ format: "date-time" }),
  /** Suspended now: an expired suspension reads as not suspended. */
  suspended: t.Boolean(),
  /** When the suspension ends; null when not suspended or suspended until lifted. */
  suspendedUntil: t.Union([t.String({ format: "date-time" }), t.Null()]),
});
export type User = Static<typeof User>;

export const SuspendUser = t.Object({
  until: t.Optional(t.String({ format: "date-time", maxLength: 64, description: "When the suspension ends by itself (ISO-8601, in the future); absent: until lifted" })),
  reason: t.Optional(t.String({ maxLength: 500, description: "Kept for the host's records; not shown to the user" })),
});
export type SuspendUser = Static<typeof SuspendUser>;

export const UserParams = t.Object({ userId: ExternalId });

/** Unix seconds, as a JWT's `iat`. */
const UnixSeconds = t.Integer({ minimum: 0, maximum: 253402300799 });

export const RevokeTokens = t.Object({
  /** Tokens issued at or before this are refused; default now. */
  before: t.Optional(UnixSeconds),
});

export const TokenRevocation = t.Object({ userId: t.String(), revokedBefore: UnixSeconds });
export type TokenRevocation = Static<typeof TokenRevocation>;

export const DeleteUserQuery = t.Object({
  erase: t.Optional(t.Boolean({ description: "true: erase the user's data after deleting them (202)" })),
});

const Time = t.String({ format: "date-time" });

/** GET /api/users/:id/export: streamed, so described here for the API document rather than validated. */
export const UserExport = t.Object({
  user: User,
  conversations: t.Array(
    t.Object({
      id: t.String({ format: "uuid" }),
      type: t.Union([t.Literal("direct"), t.Literal("group")]),
      name: t.Union([t.String(), t.Null()]),
      metadata: t.Record(t.String(), t.Unknown()),
      createdBy: t.String(),
      createdAt: Time,
      membership: t.Object({
        role: t.Union([t.Literal("owner"), t.Literal("admin"), t.Literal("member")]),
        joinedAt: Time,
        lastReadSeq: t.Integer(),
        muted: t.Boolean(),
        mutedUntil: t.Union([Time, t.Null()]),
      }),
    }),
  ),
  messages: t.Array(Message),
  reactions: t.Array(t.Object({ messageId: t.String({ format: "uuid" }), conversationId: t.String({ format: "uuid" }), emoji: t.String(), createdAt: Time })),
  reads: t.Array(
    t.Object({
      conversationId: t.String({ format: "uuid" }),
      lastReadSeq: t.Integer(),
      lastReadAt: t.Union([Time, t.Null()]),
      marks: t.Array(t.Object({ seq: t.Integer(), readAt: Time })),
    }),
  ),
});
