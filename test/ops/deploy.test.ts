/**
 * The deployment guide's files that cannot run here are at least checked: the Kubernetes
 * manifests parse and agree with the binary (commands, ports, probes, shutdown bound) and the
 * Dockerfile; the nginx and HAProxy configurations pass their own syntax checks.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ENV, loadConfig } from "../../src/config";
import { HAPROXY_CONFIG } from "../helpers/haproxy";
import { requireBinary, tempDir } from "../helpers/processes";

const ROOT = join(import.meta.dir, "../..");
const DEPLOY = join(ROOT, "examples/deploy");

type Container = { name: string; image: string; args: string[]; ports?: { name: string; containerPort: number }[]; env?: { name: string; value: string }[]; [key: string]: any };
const manifests = Bun.YAML.parse(await Bun.file(join(DEPLOY, "kubernetes/chat-service.yaml")).text()) as any[];
const ofKind = (kind: string) => {
  const found = manifests.filter((m) => m?.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
};
const dockerfile = await Bun.file(join(ROOT, "Dockerfile")).text();
const dockerEnv = (name: string) => dockerfile.match(new RegExp(`\\b${name}=(\\S+)`))?.[1];

describe("Kubernetes manifests", () => {
  const deployment = ofKind("Deployment");
  const pod = deployment.spec.template.spec;
  const [serve] = pod.containers as Container[];
  const [migrate] = pod.initContainers as Container[];
  const env = (name: string) => serve!.env?.find((e) => e.name === name)?.value;
  const port = (name: string) => serve!.ports!.find((p) => p.name === name)!.containerPort;

  test("the containers run the binary's own commands on the image the Dockerfile builds", async () => {
    const help = Bun.spawnSync([process.execPath, "src/main.ts", "--help"], { cwd: ROOT }).stdout.toString();
    expect(serve!.args).toEqual(["serve"]);
    expect(migrate!.args).toEqual(["migrate"]);
    for (const command of [...serve!.args, ...migrate!.args]) expect(help).toMatch(new RegExp(`^  ${command} `, "m"));
    expect(migrate!.image).toBe(serve!.image);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/local/bin/chat-service"]');
    expect(pod.securityContext.runAsUser).toBe(Number(dockerfile.match(/^USER (\d+):/m)![1]));
    // Every variable the manifest sets is one the service reads.
    for (const { name } of serve!.env ?? []) expect(Object.keys(ENV)).toContain(name);
  });

  test("ports and probes are the binary's: /ready and /health on PORT, Socket.IO on WS_PORT", () => {
    const defaults = loadConfig({});
    expect(port("http")).toBe(Number(env("PORT") ?? defaults.PORT));
    expect(port("ws")).toBe(Number(env("WS_PORT") ?? defaults.WS_PORT));
    expect([port("http"), port("ws")]).toEqual([defaults.PORT, defaults.WS_PORT]);
    expect([Number(dockerEnv("PORT")), Number(dockerEnv("WS_PORT"))]).toEqual([port("http"), port("ws")]);
    expect(dockerfile).toContain(`EXPOSE ${port("http")} ${port("ws")}`);
    expect(serve!.readinessProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    expect(serve!.livenessProbe.httpGet).toEqual({ path: "/health", port: "http" });
  });

  test("the kubelet waits for the graceful stop: grace ≥ preStop + SHUTDOWN_TIMEOUT_MS", () => {
    const shutdownMs = Number(env("SHUTDOWN_TIMEOUT_MS") ?? dockerEnv("SHUTDOWN_TIMEOUT_MS"));
    const preStopMs = serve!.lifecycle.preStop.sleep.seconds * 1000;
    expect(shutdownMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStopMs + shutdownMs + 1000);
  });

  test("the budget, the Service and the Ingress select the Deployment's pods and ports; browsers get Socket.IO only, with cookie affinity", () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    const budget = ofKind("PodDisruptionBudget");
    expect(budget.spec.selector.matchLabels).toEqual(labels);
    expect(budget.spec.maxUnavailable).toBeLessThan(deployment.spec.replicas);
    const service = ofKind("Service");
    expect(service.spec.selector).toEqual(labels);
    expect(service.spec.ports.map((p: any) => [p.name, p.targetPort])).toEqual([
      ["http", "http"],
      ["ws", "ws"],
    ]);
    const ingress = ofKind("Ingress");
    const paths = ingress.spec.rules.flatMap((r: any) => r.http.paths);
    expect(paths).toEqual([{ path: "/socket.io/", pathType: "Prefix", backend: { service: { name: service.metadata.name, port: { name: "ws" } } } }]);
    expect(ingress.metadata.annotations["nginx.ingress.kubernetes.io/affinity"]).toBe("cookie");
  });
});

describe("load balancer configurations", () => {
  test("haproxy.cfg is valid with its defaults", () => {
    const run = Bun.spawnSync([requireBinary("haproxy", "haproxy"), "-c", "-f", HAPROXY_CONFIG], { env: { PATH: process.env.PATH } });
    expect(run.stdout.toString() + run.stderr.toString()).toContain("Configuration file is valid");
    expect(run.exitCode).toBe(0);
  });

  test("nginx.conf is valid inside an http block", async () => {
    const nginx = requireBinary("nginx", "nginx-light");
    const dir = tempDir("chat-nginx-");
    try {
      const main = join(dir.path, "nginx.conf");
      await Bun.write(main, `pid ${dir.path}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include ${join(DEPLOY, "nginx.conf")};\n}\n`);
      const run = Bun.spawnSync([nginx, "-t", "-p", dir.path, "-c", main]);
      expect(run.stderr.toString()).toContain("test is successful");
    } finally {
      dir.remove();
    }
  });
});
