import { asc, sql } from "drizzle-orm";
import { users } from "./schema";

/**
 * The one order in which a transaction locks several users (sync, adding participants, presence):
 * two transactions taking the same rows in different orders can deadlock. Byte order, whatever the
 * database's collation, so that it is also how JavaScript sorts ids it inserts together.
 */
export const usersInLockOrder = asc(sql`${users.externalId} collate "C"`);

/** JavaScript's side of the same order, for rows inserted together. */
export const byExternalId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
