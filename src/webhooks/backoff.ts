import type { Config } from "../config";

type BackoffConfig = Pick<Config, "WEBHOOK_BACKOFF_BASE_MS" | "WEBHOOK_BACKOFF_MAX_MS">;

/** Jitter spreads the retries of events that failed together (a receiver outage) over time. */
export const JITTER = 0.2;

/**
 * Wait before the next attempt after `failures` failed ones: base, 2×base, 4×base, … capped at
 * WEBHOOK_BACKOFF_MAX_MS, each scaled by a random factor in [1 - JITTER, 1 + JITTER).
 */
export function retryDelayMs(config: BackoffConfig, failures: number, random: () => number = Math.random): number {
  const nominal = Math.min(config.WEBHOOK_BACKOFF_MAX_MS, config.WEBHOOK_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 40));
  return Math.round(nominal * (1 - JITTER + 2 * JITTER * random()));
}

/** Shortest time from the first attempt to the last, jitter included: what "retried for at least 24 h" is checked against. */
export function shortestRetrySpanMs(config: BackoffConfig & Pick<Config, "WEBHOOK_MAX_ATTEMPTS">): number {
  let total = 0;
  for (let failures = 1; failures < config.WEBHOOK_MAX_ATTEMPTS; failures++) total += retryDelayMs(config, failures, () => 0);
  return total;
}
