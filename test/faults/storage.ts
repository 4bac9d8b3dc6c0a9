/**
 * Storage for a service process of the fault tests, in the suite's mode: a fresh database on the
 * Postgres server and a Redis prefix (real services), or an embedded PGlite database on disk.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postgresServer, redisServer } from "../helpers/servers";
import { dropRedisPrefix, freshDatabase, MODE, seedPgliteDir, uniquePrefix } from "../helpers/service";

export async function storageForMode(): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  if (MODE === "postgres") {
    const database = await freshDatabase(await postgresServer());
    const redis = await redisServer();
    const prefix = uniquePrefix();
    return {
      env: { DATABASE_URL: database.url!, REDIS_URL: redis, REDIS_PREFIX: prefix },
      async drop() {
        await database.drop();
        await dropRedisPrefix(redis, prefix);
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "chat-fault-"));
  await seedPgliteDir(join(dir, "data"));
  return {
    env: { DATA_DIR: join(dir, "data") },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
