/**
 * `bun run db:generate -- --name <what_changed>`: drizzle-kit writes a migration for the changes
 * to src/core/db/schema, then embed.ts indexes every migration for the compiled binary. Extra
 * arguments go to drizzle-kit (a package script would hand them to the last command only).
 */
import { join } from "node:path";

const root = join(import.meta.dir, "../../..");
const kit = Bun.spawnSync(
  [join(root, "node_modules/.bin/drizzle-kit"), "generate", "--dialect", "postgresql", "--schema", "./src/core/db/schema/index.ts", "--out", "./drizzle", ...process.argv.slice(2)],
  { cwd: root, stdio: ["inherit", "inherit", "inherit"] },
);
if (kit.exitCode !== 0) process.exit(kit.exitCode ?? 1);
await import("./embed");
