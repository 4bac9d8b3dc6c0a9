/**
 * HAProxy in front of three instances, running examples/deploy/haproxy.cfg itself: the test sets
 * the addresses the file reads from the environment, so the guide and the tests cannot drift.
 */
import { join } from "node:path";
import type { Instance } from "./instances";
import { type Child, freePort, requireBinary, spawnChild, tempDir, waitUntil } from "./processes";

export const HAPROXY_CONFIG = join(import.meta.dir, "../../examples/deploy/haproxy.cfg");

export type Balancer = {
  /** The browsers' entry point (Socket.IO). */
  browserUrl: string;
  /** The host's entry point (REST, internal API). */
  hostUrl: string;
  /** Waits until HAProxy's checks see every server of both backends in `state` (or only `server`'s). */
  waitFor(state: "UP" | "DOWN", server?: string): Promise<void>;
  output(): string;
  stop(): Promise<void>;
};

/**
 * `sticky: false` runs the same file without its cookie lines, to show what polling does when
 * the balancer does not pin a session to one instance.
 */
export async function startBalancer(instances: Instance[], options: { sticky?: boolean } = {}): Promise<Balancer> {
  const haproxy = requireBinary("haproxy", "haproxy");
  if (instances.length !== 3) throw new Error("the example configuration has three servers");
  let config = HAPROXY_CONFIG;
  const dir = tempDir("chat-haproxy-");
  if (options.sticky === false) {
    config = join(dir.path, "haproxy-unsticky.cfg");
    const text = await Bun.file(HAPROXY_CONFIG).text();
    await Bun.write(config, text.replace(/^\s*cookie .*\n/m, "").replace(/ cookie chat\d/g, ""));
  }
  const [browser, host, stats] = [freePort(), freePort(), freePort()];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    CHAT_BROWSER_BIND: `127.0.0.1:${browser}`,
    CHAT_HOST_BIND: `127.0.0.1:${host}`,
    CHAT_STATS_BIND: `127.0.0.1:${stats}`,
    CHAT_MAXCONN: "2000",
  };
  instances.forEach((instance, i) => {
    env[`CHAT_${i + 1}_ADDR`] = "127.0.0.1";
    env[`CHAT_${i + 1}_PORT`] = String(instance.port);
    env[`CHAT_${i + 1}_WS_PORT`] = String(instance.wsPort);
  });
  const child: Child = spawnChild([haproxy, "-db", "-f", config], { env });
  let seen: unknown = [];
  const statuses = async () => {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}:\n${child.output()}`);
    const res = await fetch(`http://127.0.0.1:${stats}/stats;csv`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    if (!res?.ok) return [];
    // "# pxname,svname,qcur,…": one row per frontend, server and backend.
    const [header, ...rows] = (await res.text()).trim().split("\n").map((line) => line.split(","));
    const column = (name: string) => header!.indexOf(name);
    return rows
      .filter((row) => row[0] === "chat_sockets" || row[0] === "chat_api")
      .filter((row) => !["FRONTEND", "BACKEND"].includes(row[column("svname")]!))
      .map((row) => ({ backend: row[0]!, server: row[column("svname")]!, status: row[column("status")]! }));
  };
  const balancer: Balancer = {
    browserUrl: `http://127.0.0.1:${browser}`,
    hostUrl: `http://127.0.0.1:${host}`,
    async waitFor(state, server) {
      await waitUntil(
        async () => {
          const rows = (await statuses()).filter((row) => server === undefined || row.server === server);
          seen = rows;
          return rows.length > 0 && rows.every((row) => row.status.startsWith(state));
        },
        20_000,
        () => `servers ${server ?? "all"} not ${state}: ${JSON.stringify(seen)}\n${child.output()}`,
      );
    },
    output: child.output,
    async stop() {
      await child.stop(5000);
      dir.remove();
    },
  };
  try {
    await balancer.waitFor("UP");
  } catch (error) {
    await balancer.stop();
    throw error;
  }
  return balancer;
}
