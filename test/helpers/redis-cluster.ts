/**
 * A Redis Cluster of three masters, each with one replica, started from redis-server on free
 * ports in a temporary directory, for tests of the service on REDIS_CLUSTER_NODES.
 */
import { join } from "node:path";
import Redis from "ioredis";
import { type Child, freePort, requireBinary, spawnChild, tempDir, waitUntil } from "./processes";

export type RedisNode = { port: number; child: Child };

export type RedisCluster = {
  /** REDIS_CLUSTER_NODES: every node, comma-separated host:port. */
  nodes: string;
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<RedisNode>;
  /** Kills `node` (SIGKILL) and waits until its replica has taken over its slots. */
  failOver(node: RedisNode): Promise<void>;
  stop(): Promise<void>;
};

const NODE_TIMEOUT_MS = 1000;

/** A one-off connection to one node: no retries, and its failures are the caller's to see. */
function probe(port: number): Redis {
  const redis = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  return redis;
}

async function clusterState(port: number): Promise<string> {
  const redis = probe(port);
  try {
    await redis.connect();
    return String(await redis.cluster("INFO")).match(/cluster_state:(\w+)/)?.[1] ?? "unknown";
  } catch {
    return "unreachable";
  } finally {
    redis.disconnect();
  }
}

/** A free port whose cluster bus port (the port + 10000) is free too. */
function freePortWithBus(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = freePort();
    try {
      Bun.listen({ hostname: "127.0.0.1", port: port + 10_000, socket: { data() {} } }).stop(true);
      return port;
    } catch {}
  }
  throw new Error("no free port pair for a cluster node");
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const server = requireBinary("redis-server", "redis-server");
  const cli = requireBinary("redis-cli", "redis-tools");
  const dir = tempDir("chat-redis-cluster-");
  const nodes: RedisNode[] = [];
  const all = () => nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.child.crash()));
    dir.remove();
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = freePortWithBus();
      const child = spawnChild([
        server,
        "--port", String(port),
        "--bind", "127.0.0.1",
        "--dir", dir.path,
        "--cluster-enabled", "yes",
        "--cluster-config-file", join(dir.path, `nodes-${port}.conf`),
        "--cluster-node-timeout", String(NODE_TIMEOUT_MS),
        // A replica whose master dies moments after the cluster formed has seen little of it; by
        // default it may then judge its data too old and never stand for election.
        "--cluster-replica-validity-factor", "0",
        "--save", "",
        "--appendonly", "no",
      ]);
      nodes.push({ port, child });
    }
    for (const node of nodes) {
      await waitUntil(async () => (await clusterState(node.port)) !== "unreachable", 10_000, () => node.child.output());
    }
    // The first three become masters, the last three their replicas.
    const create = Bun.spawnSync([cli, "--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"]);
    if (create.exitCode !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    for (const node of nodes) await waitUntil(async () => (await clusterState(node.port)) === "ok", 20_000, () => `node ${node.port} not ok`);
  } catch (error) {
    await stop();
    throw error;
  }

  const alive = () => nodes.filter((n) => n.child.running);
  const masterOf = async (key: string): Promise<RedisNode> => {
    const node = probe(alive()[0]!.port);
    try {
      const slot = Number(await node.cluster("KEYSLOT", key));
      const shards = await node.cluster("SLOTS");
      const [, , master] = shards.find(([from, to]) => slot >= from && slot <= to)!;
      return nodes.find((n) => n.port === master![1])!;
    } finally {
      node.disconnect();
    }
  };
  return {
    nodes: all(),
    masterOf,
    async failOver(node) {
      await node.child.crash();
      // The others mark it failed after the node timeout and its replica is promoted.
      await waitUntil(
        async () => {
          const states = await Promise.all(alive().map((n) => clusterState(n.port)));
          if (!states.every((s) => s === "ok")) return false;
          const other = probe(alive()[0]!.port);
          try {
            const shards = await other.cluster("SLOTS");
            return shards.every(([, , master]) => master![1] !== node.port);
          } finally {
            other.disconnect();
          }
        },
        // A node timeout, an election and a slot update: seconds, more on a loaded machine.
        30_000,
        () => "the replica did not take over",
      );
    },
    stop,
  };
}
