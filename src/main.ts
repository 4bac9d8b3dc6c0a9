#!/usr/bin/env bun
import pkg from "../package.json";
import { startApp } from "./app";
import { type Config, ConfigError, describeEnv, loadConfig } from "./config";
import { openStorage } from "./core/db/client";
import { migrate } from "./core/db/migrate";
import { createLogger, type Logger } from "./core/log";

const HELP = `chat-service ${pkg.version}: self-hosted real-time chat backend

Usage: chat-service [command]

Commands:
  serve                 start the service (default)
  migrate               apply pending database migrations and exit (safe to repeat)
  healthcheck           exit 0 when the service on PORT answers /health, 1 otherwise
  healthcheck --ready   the same with /ready (database, migrations, Redis)
  --version             print the version
  --help                print this help

Signals: SIGTERM or SIGINT stop the service gracefully within SHUTDOWN_TIMEOUT_MS (exit 0);
a second signal stops it at once.

Environment (defaults in brackets):
${describeEnv()}
`;

const COMMANDS: Record<string, string[]> = { serve: [], migrate: [], healthcheck: ["--ready"] };

async function main(argv: string[]): Promise<number> {
  const [command = "serve", ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === "--version" || command === "-v" || command === "version") {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const options = COMMANDS[command];
  if (!options) {
    process.stderr.write(`Unknown command "${command}". Commands: ${Object.keys(COMMANDS).join(", ")}. Run with --help for usage.\n`);
    return 2;
  }
  const unknown = rest.find((arg) => !options.includes(arg));
  if (unknown !== undefined) {
    process.stderr.write(`Unknown argument "${unknown}" for ${command}. Run with --help for usage.\n`);
    return 2;
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\nRun with --help to see every variable.\n`);
      return 2;
    }
    throw error;
  }

  if (command === "healthcheck") return healthcheck(config, rest.includes("--ready") ? "/ready" : "/health");

  const log = createLogger(config.LOG_LEVEL);
  process.on("unhandledRejection", (error) => log.error("unhandled rejection", { error }));
  if (config.devSecrets.length) {
    log.warn("development mode: using built-in development secrets; set NODE_ENV=production and real secrets before exposing this service", {
      variables: config.devSecrets,
    });
  }
  return command === "migrate" ? runMigrations(config, log) : serve(config, log);
}

/** For container health checks: no output, only the exit code. */
async function healthcheck(config: Config, path: string): Promise<number> {
  const host = config.HOST === "0.0.0.0" || config.HOST === "::" ? "127.0.0.1" : config.HOST;
  try {
    const res = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${config.PORT}${path}`, { signal: AbortSignal.timeout(3000) });
    return res.ok ? 0 : 1;
  } catch {
    return 1;
  }
}

async function runMigrations(config: Config, log: Logger): Promise<number> {
  try {
    const storage = await openStorage(config, log);
    try {
      const applied = await migrate(storage);
      log.info(applied ? "migrations applied" : "database already up to date", { applied });
    } finally {
      await storage.close();
    }
    return 0;
  } catch (error) {
    log.error("migration failed", { error });
    return 1;
  }
}

/** Runs until SIGTERM/SIGINT; returns -1 so that the process stays up. */
async function serve(config: Config, log: Logger): Promise<number> {
  let app: Awaited<ReturnType<typeof startApp>>;
  try {
    app = await startApp(config, log);
  } catch (error) {
    log.error("start-up failed", { error });
    return 1;
  }
  const shutdown = async (signal: string) => {
    log.info("shutting down", { signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    // A second signal means "now": the default handler ends the process.
    process.removeAllListeners("SIGTERM").removeAllListeners("SIGINT");
    const timer = setTimeout(() => {
      log.error("shutdown timed out", { timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    const started = performance.now();
    await app.stop();
    clearTimeout(timer);
    log.info("stopped", { ms: Math.round(performance.now() - started) });
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return -1;
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
