import type { Config } from "../../config";
import { createMemoryStore } from "./memory";
import { createRedisClient, createRedisStore } from "./redis";
import type { Store } from "./types";

export type { Store } from "./types";

export function openStore(config: Config): Store {
  if (!config.REDIS_URL) return createMemoryStore();
  return createRedisStore(createRedisClient(config.REDIS_URL), config.REDIS_PREFIX);
}
