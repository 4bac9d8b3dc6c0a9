import { bigint, boolean, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { createdAt, timestampMs, updatedAt } from "./columns";

/** Users are owned by the host application; we keep what we need to show them and their presence. */
export const users = pgTable("users", {
  externalId: text("external_id").primaryKey(),
  name: text("name"),
  avatarUrl: text("avatar_url"),
  metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
  lastSeenAt: timestampMs("last_seen_at"),
  /** Soft delete: the user's messages keep their sender; syncing the id again restores the user. */
  deletedAt: timestampMs("deleted_at"),
  /**
   * The host's `version` of the last sync that carried one. Kept through a delete, so that a late
   * sync older than the delete cannot bring the user back.
   */
  syncVersion: bigint("sync_version", { mode: "number" }),
  /** Unix seconds: tokens of this user issued at or before it (or without `iat`) are refused. */
  revokedBefore: bigint("tokens_revoked_before", { mode: "number" }),
  /**
   * Suspended through the internal API: every call and connect of theirs is refused while set and
   * suspendedUntil (if any) is ahead. Read by authentication with the row it loads anyway.
   */
  suspended: boolean("suspended").notNull().default(false),
  suspendedUntil: timestampMs("suspended_until"),
  suspensionReason: text("suspension_reason"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export type UserRow = typeof users.$inferSelect;
