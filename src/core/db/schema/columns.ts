import { timestamp } from "drizzle-orm/pg-core";

/** Millisecond precision, so that a stored time round-trips through a JS Date and ISO-8601 unchanged. */
export const timestampMs = (name: string) => timestamp(name, { withTimezone: true, mode: "date", precision: 3 });
export const createdAt = () => timestampMs("created_at").notNull().defaultNow();
export const updatedAt = () => timestampMs("updated_at").notNull().defaultNow();
