// The Kubernetes manifests of deploy/kubernetes, rendered by the real `kubectl kustomize` and checked
// against the Kubernetes schemas, the real `tollgate serve` and `tollgate validate`, a running
// gateway's admin listener and metrics, and promtool.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { ROOT, runCli } from '../helpers/cli.js';
import { OVERLAYS, containerPort, find, flagPort, flagValue, gatewayPod, materializeVolumes, render, type K8sObject } from '../../scripts/rehearse/pod.mjs';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { backendKey, chat, serveFlags, startPod, startSim, type PodProcess, type Sim } from './helpers.js';

const rendered = new Map<string, K8sObject[]>(OVERLAYS.map((o) => [o, render(o)]));
const objects = (o: string): K8sObject[] => rendered.get(o)!;

type Model = new (o: unknown) => { validate(): void };

/** The kubernetes-models class for an object: core and built-in groups, and the Prometheus Operator CRDs. */
async function modelFor(o: K8sObject): Promise<Model> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [undefined, o.apiVersion];
  const pkg = group === 'monitoring.coreos.com' ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  const path = group === undefined ? `${pkg}/${version}/${o.kind}` : `${pkg}/${group}/${version}/${o.kind}`;
  const mod = (await import(path)) as Record<string, Model>;
  const cls = mod[o.kind];
  if (cls === undefined) throw new Error(`no schema for ${o.apiVersion} ${o.kind} in ${path}`);
  return cls;
}

it('the schema check catches a broken object (it is not vacuous)', async () => {
  const objs = objects('overlays/prometheus-operator');
  const dep = structuredClone(find(objs, 'Deployment', 'tollgate'));
  dep['spec'].template.spec.containers[0].ports[0].containerPort = 'http';
  const Deployment = await modelFor(dep);
  expect(() => new Deployment(dep).validate()).toThrow(/containerPort/);
  const sm = structuredClone(find(objs, 'ServiceMonitor'));
  sm['spec'].endpoints[0].interval = 15;
  const ServiceMonitor = await modelFor(sm);
  expect(() => new ServiceMonitor(sm).validate()).toThrow(/interval/);
});

describe.each(OVERLAYS)('deploy/kubernetes/%s', (overlay) => {
  it('renders with kubectl kustomize, and every object validates against its schema', async () => {
    const objs = objects(overlay);
    expect(objs.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'ConfigMap', 'Secret', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'ServiceAccount']));
    for (const o of objs) {
      const Model = await modelFor(o);
      expect(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
  });

  it('its config passes `tollgate validate` with the mounted secrets', async () => {
    const pod = gatewayPod(objects(overlay));
    const root = mkdtempSync(join(tmpdir(), 'tollgate-validate-'));
    try {
      const paths = materializeVolumes(pod, root);
      const args = pod.args;
      const r = await runCli(['validate', '--config', paths[flagValue(args, '--config')!]!, '--secrets-dir', paths[flagValue(args, '--secrets-dir')!]!, '--serve']);
      expect(r.stderr + r.stdout).toMatch(/\bvalid\b/);
      expect(r.stderr + r.stdout).not.toMatch(/error/);
      expect(r.code).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('passes `tollgate serve` only flags it accepts', async () => {
    const { args } = gatewayPod(objects(overlay));
    expect(args[0]).toBe('serve');
    const accepted = await serveFlags();
    const unknown = args.filter((a) => a.startsWith('-') && !accepted.has(a));
    expect(unknown, 'flags in the Deployment that `tollgate serve --help` does not list').toEqual([]);
  });
});

describe('the base Deployment', () => {
  const base = objects('base');
  const pod = gatewayPod(base);
  const c = pod.container;

  it('runs as a non-root user with a read-only root file system, no capabilities, RuntimeDefault seccomp, no API token', () => {
    // three replicas, owned by the HPA alone
    expect(pod.deployment['spec'].replicas).toBeUndefined();
    expect(find(base, 'HorizontalPodAutoscaler')['spec']).toMatchObject({ minReplicas: 3, scaleTargetRef: { kind: 'Deployment', name: pod.deployment.metadata.name } });
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(find(base, 'ServiceAccount', pod.spec.serviceAccountName)['automountServiceAccountToken']).toBe(false);
    expect(c.resources.requests).toHaveProperty('cpu');
    expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(pod.spec.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toContain('kubernetes.io/hostname');
    // the config and secrets read-only and mounted whole (a subPath mount never sees the ..data swap)
    for (const m of c.volumeMounts as Array<{ mountPath: string; readOnly?: boolean; subPath?: string }>) {
      expect(m.subPath).toBeUndefined();
      if (m.mountPath !== '/var/lib/tollgate') expect(m.readOnly, m.mountPath).toBe(true);
    }
    expect(flagValue(pod.args, '--ledger')?.startsWith('/var/lib/tollgate/')).toBe(true);
  });

  it('matches the image: the same user, paths and ports', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
    expect(Number(user?.[1])).toBe(pod.spec.securityContext.runAsUser);
    expect(Number(user?.[2])).toBe(pod.spec.securityContext.runAsGroup);
    expect(dockerfile).toContain(`TOLLGATE_CONFIG=${flagValue(pod.args, '--config')!}`);
    expect(dockerfile).toContain(`TOLLGATE_SECRETS_DIR=${flagValue(pod.args, '--secrets-dir')!}`);
    expect(dockerfile).toMatch(/^ENTRYPOINT \[.*"tollgate"\]$/m);
    expect(dockerfile).toContain(`EXPOSE ${flagPort(pod.args, '--listen')} ${flagPort(pod.args, '--admin')}`);
  });

  it('gives the pod time to drain: terminationGracePeriodSeconds covers the preStop sleep and --drain-timeout', () => {
    const preStop = Number(c.lifecycle.preStop.sleep.seconds);
    const drain = Number(flagValue(pod.args, '--drain-timeout'));
    expect(preStop).toBeGreaterThan(0);
    expect(drain).toBeGreaterThan(0);
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drain);
  });

  it('points the Services, probes and container ports at the listeners the args open, the admin one on every interface', () => {
    expect(flagValue(pod.args, '--admin')!.startsWith('0.0.0.0:')).toBe(true);
    const admin = flagPort(pod.args, '--admin');
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(containerPort(c, probe.httpGet.port)).toBe(admin);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    const data = find(base, 'Service', 'tollgate')['spec'].ports[0];
    expect(containerPort(c, data.targetPort)).toBe(flagPort(pod.args, '--listen'));
    const adminSvc = find(base, 'Service', 'tollgate-admin')['spec'];
    expect(adminSvc.type).toBe('ClusterIP');
    expect(containerPort(c, adminSvc.ports[0].targetPort)).toBe(admin);
    expect(find(base, 'PodDisruptionBudget')['spec'].maxUnavailable).toBe(1);
  });
});

describe('copies kept in step with their sources', () => {
  it('the prometheus-operator overlay serves deploy/grafana/tollgate-dashboard.json unchanged', () => {
    const cm = find(objects('overlays/prometheus-operator'), 'ConfigMap', 'tollgate-grafana-dashboard');
    expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const source = readFileSync(join(ROOT, 'deploy/grafana/tollgate-dashboard.json'), 'utf8');
    expect(cm['data']['tollgate-dashboard.json'] === source, 'copy it: cp deploy/grafana/tollgate-dashboard.json deploy/kubernetes/overlays/prometheus-operator/grafana/').toBe(true);
  });

  it('the seed-scenario overlay holds the manifests of examples/seed-scenario, changed only where a cluster needs it', () => {
    const docsOf = (texts: string[]): K8sObject[] => texts.flatMap((t) => parseAllDocuments(t).map((d) => d.toJS() as K8sObject)).filter((d) => d !== null);
    const example = docsOf(['backends', 'gateway', 'routes', 'security', 'traffic'].map((f) => readFileSync(join(ROOT, 'examples/seed-scenario', `${f}.yaml`), 'utf8')));
    const cm = gatewayPod(objects('overlays/seed-scenario')).mounts['/etc/tollgate/config']!.files!;
    const overlay = docsOf(Object.values(cm));
    const key = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
    // the keys come from the mounted Secret, not Secret manifests
    expect(overlay.filter((o) => o.kind === 'Secret')).toEqual([]);
    const exampleSecrets = example.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name).sort();
    const mounted = Object.keys(gatewayPod(objects('overlays/seed-scenario')).mounts['/etc/tollgate/secrets']!.files!).map((p) => p.split('/')[0]).sort();
    expect(mounted).toEqual(exampleSecrets);
    const expected = example
      .filter((o) => o.kind !== 'Secret')
      .map((o) => {
        const copy = structuredClone(o);
        if (o.kind === 'Backend') copy['spec'].endpoints = overlay.find((x) => key(x) === key(o))?.['spec'].endpoints;
        if (o.kind === 'BackendTrafficPolicy') copy['spec'].rateLimit = { type: 'Global', global: o['spec'].rateLimit.local };
        return copy;
      });
    expect(overlay.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(expected.sort((a, b) => key(a).localeCompare(key(b))));
    for (const b of overlay.filter((o) => o.kind === 'Backend')) expect(b['spec'].endpoints[0].fqdn.hostname).toMatch(/\.svc\.cluster\.local$/);
  });
});

describe('a gateway started with the Deployment’s args, env and volumes', () => {
  let sim: Sim;
  let gw: PodProcess;
  beforeAll(async () => {
    sim = await startSim(backendKey(objects('base')));
    gw = await startPod(objects('base'), sim.port);
  });
  afterAll(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  it('answers the probes on the admin listener and serves on the data listener', async () => {
    const c = gw.pod.container;
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
      const r = await fetch(`${gw.adminUrl}${probe.httpGet.path as string}`);
      expect(r.status, probe.httpGet.path).toBe(200);
    }
    const r = await chat(gw.url, { 'x-tenant-id': 'probe' });
    expect(r.status).toBe(200);
  });

  it('exports every metric the PrometheusRule alerts on', async () => {
    expect((await chat(gw.url, { 'x-tenant-id': 'metrics' })).status).toBe(200);
    expect((await chat(gw.url, { 'x-tenant-id': 'metrics', 'x-sim-fault': 'status=503' })).status).toBeGreaterThanOrEqual(500);
    const scrape = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const types = new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const exported = new Set<string>();
    for (const [name, type] of types) {
      exported.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
    }
    const named = new Set(ruleExprs().flatMap((e) => [...e.matchAll(/\b(tollgate_[a-z0-9_]+|gen_ai_[a-z0-9_]+)\b/g)].map((m) => m[1]!)));
    expect(named.size).toBeGreaterThan(0);
    expect([...named].filter((n) => !exported.has(n)), 'metrics the alerts use that the gateway does not export').toEqual([]);
  });
});

describe('the seed-scenario overlay on two replicas sharing one Redis', () => {
  let sim: Sim;
  let redis: TestRedis;
  let pods: PodProcess[];
  beforeAll(async () => {
    const objs = objects('overlays/seed-scenario');
    // every tier-2 app is routed to the vLLM backend, which serves this model name
    sim = await startSim(backendKey(objs), 'gpt-oss-120b');
    redis = await startRedis();
    pods = [await startPod(objs, sim.port, { '--redis': redis.url }), await startPod(objs, sim.port, { '--redis': redis.url })];
  });
  afterAll(async () => {
    for (const p of pods ?? []) await p.stop();
    await redis?.stop();
    await sim?.stop();
  });

  it('routes by identity and holds the seed limit (2 a minute for swe-rebench-ide) across both', async () => {
    const statuses: number[] = [];
    for (const i of [0, 1, 2, 3]) statuses.push((await chat(pods[i % 2]!.url, { 'x-workload-app': 'swe-rebench-ide' })).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect((await chat(pods[0]!.url, { 'x-workload-app': 'terminal-bench-ci' })).status).toBe(200);
    expect((await chat(pods[1]!.url, { 'x-workload-app': 'unknown-app' })).status).toBe(404);
  });
});

const prometheusRule = (): K8sObject => find(objects('overlays/prometheus-operator'), 'PrometheusRule');
const ruleExprs = (): string[] => (prometheusRule()['spec'].groups as Array<{ rules: Array<{ expr: string }> }>).flatMap((g) => g.rules.map((r) => r.expr));

it('promtool check rules accepts the PrometheusRule', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify(prometheusRule()['spec']));
    const out = execFileSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${ruleExprs().length} rules found`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
