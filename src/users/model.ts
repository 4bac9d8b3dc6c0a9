import { type Static, t } from "elysia";
import { ExternalId, HttpUrl, Metadata } from "../core/schemas";

export const UserSync = t.Object({
  externalUserId: ExternalId,
  name: t.Optional(t.Union([t.String({ maxLength: 200 }), t.Null()])),
  avatarUrl: t.Optional(t.Union([HttpUrl, t.Null()])),
  metadata: t.Optional(Metadata),
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
});
export type User = Static<typeof User>;

export const UserParams = t.Object({ userId: ExternalId });
