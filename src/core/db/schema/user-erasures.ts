import { integer, pgTable, text } from "drizzle-orm/pg-core";
import { createdAt, updatedAt } from "./columns";

/**
 * Erases in progress (DELETE /api/users/:id?erase=true): one row per user, written in the
 * transaction that deletes them, worked through in batches by every instance's lifecycle worker
 * (the row taken FOR UPDATE SKIP LOCKED, so one instance works a batch), and deleted in the
 * transaction that records `user.erased`. A restart resumes from `phase` and `cursor`.
 * Owned by src/users/erase.ts.
 */
export const userErasures = pgTable("user_erasures", {
  userId: text("user_id").primaryKey(),
  /** What the next batch does: messages → reactions → mentions → outbox → done. */
  phase: text("phase", { enum: ["messages", "reactions", "mentions", "outbox"] }).notNull().default("messages"),
  /** Where the phase goes on from: the last message id (or outbox event id) it handled; null: from the start. */
  cursor: text("cursor"),
  /** The user's messages turned into tombstones so far (`user.erased` reports the total). */
  messages: integer("messages").notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export type UserErasureRow = typeof userErasures.$inferSelect;
