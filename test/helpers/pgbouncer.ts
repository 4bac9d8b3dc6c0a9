/**
 * PgBouncer in transaction mode in front of the test Postgres server, on a free port: every
 * database name is passed through to the server, so a fresh test database works through it too.
 */
import { chmodSync, chownSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { type Child, freePort, requireBinary, spawnChild, tempDir, waitUntil } from "./processes";

export type Bouncer = {
  /** `databaseUrl` with its host and port replaced by PgBouncer's. */
  through(databaseUrl: string): string;
  output(): string;
  stop(): Promise<void>;
};

/** `poolSize` server connections per database and user: fewer than an instance's pool, on purpose. */
export async function startPgBouncer(serverUrl: string, options: { poolSize?: number; connectQuery?: string } = {}): Promise<Bouncer> {
  const pgbouncer = requireBinary("pgbouncer", "pgbouncer");
  const server = new URL(serverUrl);
  const port = freePort();
  const dir = tempDir("chat-pgbouncer-");
  const connectQuery = options.connectQuery ? ` connect_query='${options.connectQuery.replaceAll("'", "''")}'` : "";
  await Bun.write(join(dir.path, "userlist.txt"), `"${decodeURIComponent(server.username) || "postgres"}" ""\n`);
  await Bun.write(
    join(dir.path, "pgbouncer.ini"),
    `[databases]
* = host=${server.hostname} port=${server.port || 5432}${connectQuery}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir.path, "userlist.txt")}
pool_mode = transaction
default_pool_size = ${options.poolSize ?? 2}
; Server connections taken in turn rather than the last used first: a client's statements land
; on another server connection as often as on a busy pooler.
server_round_robin = 1
max_client_conn = 200
server_reset_query =
logfile =
`,
  );
  // PgBouncer refuses to run as root: as root (CI), it runs as the postgres user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const idOf = (flag: string) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim());
    chownSync(dir.path, idOf("-u"), idOf("-g"));
    chmodSync(dir.path, 0o755);
  }
  const child: Child = spawnChild([pgbouncer, ...(asRoot ? ["-u", "postgres"] : []), join(dir.path, "pgbouncer.ini")], { env: { PATH: process.env.PATH } });
  const url = (databaseUrl: string) => {
    const through = new URL(databaseUrl);
    through.hostname = "127.0.0.1";
    through.port = String(port);
    return through.toString();
  };
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}:\n${child.output()}`);
        const sql = postgres(url(serverUrl), { max: 1, connect_timeout: 1, onnotice: () => {} });
        try {
          await sql`select 1`;
          return true;
        } catch {
          return false;
        } finally {
          await sql.end({ timeout: 1 });
        }
      },
      15_000,
      () => `pgbouncer does not answer on ${port}:\n${child.output()}`,
    );
  } catch (error) {
    await child.crash();
    dir.remove();
    throw error;
  }
  return {
    through: url,
    output: child.output,
    async stop() {
      await child.stop(5000);
      dir.remove();
    },
  };
}
