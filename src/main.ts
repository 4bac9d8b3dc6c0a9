#!/usr/bin/env bun
import pkg from "../package.json";
import { startApp } from "./app";
import { ConfigError, describeEnv, loadConfig } from "./config";
import { openStorage } from "./core/db/client";
import { migrate } from "./core/db/migrate";
import { createLogger } from "./core/log";

const HELP = `chat-service ${pkg.version}: self-hosted real-time chat backend

Usage: chat-service [command]

Commands:
  serve         start the service (default)
  migrate       apply database migrations and exit
  healthcheck   exit 0 when the service on PORT answers /health, 1 otherwise
  --version     print the version
  --help        print this help

Environment (defaults in brackets):
${describeEnv()}
`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? "serve";
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === "--version" || command === "-v" || command === "version") {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (!["serve", "migrate", "healthcheck"].includes(command)) {
    process.stderr.write(`Unknown command "${command}". Run with --help for usage.\n`);
    return 2;
  }

  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\nRun with --help to see every variable.\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger(config.LOG_LEVEL);

  if (command === "healthcheck") {
    const host = config.HOST === "0.0.0.0" || config.HOST === "::" ? "127.0.0.1" : config.HOST;
    try {
      const res = await fetch(`http://${host}:${config.PORT}/health`, { signal: AbortSignal.timeout(3000) });
      return res.ok ? 0 : 1;
    } catch {
      return 1;
    }
  }

  if (config.devSecrets.length) {
    log.warn("development mode: using built-in development secrets; set NODE_ENV=production and real secrets before exposing this service", {
      secrets: config.devSecrets,
    });
  }

  if (command === "migrate") {
    const storage = await openStorage(config, log);
    try {
      const applied = await migrate(storage);
      log.info("migrations applied", { applied });
    } finally {
      await storage.close();
    }
    return 0;
  }

  const app = await startApp(config, log);
  const shutdown = async (signal: string) => {
    log.info("shutting down", { signal });
    const timer = setTimeout(() => {
      log.error("shutdown timed out", { timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    await app.stop();
    clearTimeout(timer);
    log.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return -1;
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
