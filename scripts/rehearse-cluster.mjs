#!/usr/bin/env node
// `npm run rehearse:cluster`: the rendered Kubernetes deployment rehearsed on one machine, with no
// cluster. It renders deploy/kubernetes/overlays/redis (the base plus Redis) and runs:
//   - three gateway replicas with exactly the Deployment's args, env and volumes (the ConfigMap and
//     the Secret written as the kubelet writes them), listen addresses moved to free loopback ports,
//     --redis to the local Redis, the config's Backends to a simulated backend (`tollgate sim`);
//   - one real Redis with the redis overlay's own arguments;
//   - one real Prometheus scraping the three admin ports with the ServiceMonitor's path and
//     interval, labelled as the Prometheus Operator labels them (job, namespace, pod).
// Then it checks, and exits 1 if any check fails:
//   1. a global limit holds exactly across the replicas (round-robin traffic on one tenant);
//   2. Prometheus's sum of the replicas' token counters equals the usage the clients received;
//   3. `promtool test rules` passes the alert unit tests on the rendered PrometheusRule;
//   4. killing one replica mid-run (SIGKILL) fails only the requests it held.
//
//   npm run rehearse:cluster               # ~1 minute
//   npm run rehearse:cluster -- --short    # fewer requests (the test suite runs this)
//   npm run rehearse:cluster -- --json     # the results as one JSON document on stdout
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { find, flagValue, gatewayPod, helpFlags, KUSTOMIZE_DIR, materializeVolumes, remapArgs, render, ROOT, startGateway, supportedArgs } from './rehearse/pod.mjs';

const BIN = join(ROOT, 'bin', 'tollgate.js');

const { values: opts } = parseArgs({ options: { short: { type: 'boolean' }, json: { type: 'boolean' }, keep: { type: 'boolean' } } });
const say = (line) => {
  if (!opts.json) process.stdout.write(`${line}\n`);
};

const work = mkdtempSync(join(tmpdir(), 'tollgate-rehearsal-'));
const children = [];
const gateways = [];
const cleanup = () => {
  for (const g of gateways) g.kill();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (!opts.keep) rmSync(work, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
const checks = [];
function check(name, ok, detail) {
  checks.push({ name, ok, detail });
  say(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
}

try {
  await main();
} catch (err) {
  checks.push({ name: 'rehearsal', ok: false, detail: err instanceof Error ? err.message : String(err) });
  process.stderr.write(`rehearse:cluster: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  cleanup();
  if (opts.keep) say(`kept ${work}`);
}
const failed = checks.filter((c) => !c.ok);
if (opts.json) process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks }, null, 2)}\n`);
else say(failed.length === 0 ? `\nall ${checks.length} checks passed` : `\n${failed.length} of ${checks.length} checks failed`);
process.exitCode = failed.length === 0 ? 0 : 1;

async function main() {
  // ---- what the cluster would run --------------------------------------------------------------
  const objects = render('overlays/redis');
  const monitoring = render('overlays/prometheus-operator');
  const pod = gatewayPod(objects);
  const monitor = find(monitoring, 'ServiceMonitor').spec.endpoints[0];
  const rule = find(monitoring, 'PrometheusRule');
  const adminService = find(objects, 'Service', 'tollgate-admin');
  const namespace = pod.deployment.metadata.namespace;
  const replicaCount = find(objects, 'HorizontalPodAutoscaler', pod.deployment.metadata.name).spec.minReplicas;
  const limit = tenantLimit(pod.mounts[flagValue(pod.args, '--config')].files);
  say(`rendered ${KUSTOMIZE_DIR}/overlays/redis: Deployment ${namespace}/${pod.deployment.metadata.name}, ${replicaCount} replicas (the HPA's minimum)`);
  say(`  args: ${pod.args.join(' ')}`);
  say(`  ServiceMonitor: ${monitor.path} every ${monitor.interval}; per-tenant limit ${limit.requests}/${limit.unit}`);

  // ---- Redis, backend, replicas, Prometheus ------------------------------------------------------
  const redisDep = find(objects, 'Deployment', 'redis').spec.template.spec.containers[0];
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', ...redisDep.args], { stdio: 'ignore' });
  children.push(redis);
  await waitFor(() => ping(redisPort), 'redis-server');
  say(`redis-server on 127.0.0.1:${redisPort} with ${redisDep.args.map((a) => (a === '' ? '""' : a)).join(' ')}`);

  const apiKey = secretValue(objects);
  const sim = spawn(process.execPath, [BIN, 'sim', '--listen', '127.0.0.1:0', '--profile', 'fast', '--api-key', apiKey], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(sim);
  const simPort = await new Promise((resolve, reject) => {
    let out = '';
    sim.stdout.on('data', (d) => {
      out += d;
      const m = /127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    sim.on('exit', () => reject(new Error(`tollgate sim exited: ${out}`)));
  });
  say(`simulated backend (tollgate sim) on 127.0.0.1:${simPort}, key from the rendered Secret`);

  const help = execFileSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8' });
  const { args, dropped } = supportedArgs(pod.args, helpFlags(help));
  if (dropped.length > 0) say(`note: this build of tollgate serve does not accept ${dropped.join(', ')}; the replicas run without it`);
  const replicas = [];
  for (let i = 0; i < replicaCount; i++) {
    const name = `${pod.deployment.metadata.name}-${i}`;
    const paths = materializeVolumes(pod, join(work, name), { host: '127.0.0.1', port: simPort });
    const command = [process.execPath, BIN, ...remapArgs(args, { values: { '--listen': '127.0.0.1:0', '--admin': '127.0.0.1:0', '--redis': `redis://127.0.0.1:${redisPort}/0` }, paths })];
    const gw = startGateway(command, { env: { PATH: process.env.PATH ?? '', ...pod.env } });
    gateways.push(gw);
    replicas.push({ name, gw, ports: await gw.ready, alive: true });
  }
  say(`replicas: ${replicas.map((r) => `${r.name} data :${r.ports.listen} admin :${r.ports.admin}`).join(', ')}`);

  const prom = await startPrometheus(replicas, monitor, { job: adminService.metadata.name, namespace });
  say(`prometheus on ${prom.url} scraping ${replicas.length} targets at ${monitor.path} every ${monitor.interval}`);
  await waitFor(async () => (await promQuery(prom.url, `count(up{job="${adminService.metadata.name}"} == 1)`))[0]?.value[1] === String(replicaCount), 'Prometheus to scrape every replica', 60_000);

  // ---- 1. the global limit across replicas -----------------------------------------------------
  const usage = { input: 0, output: 0 };
  const extra = opts.short ? 20 : limit.requests;
  const tenant = `rehearsal-${process.pid}`;
  const limited = await roundRobin(replicas, limit.requests + extra, 8, () => ({ 'x-tenant-id': tenant }), usage);
  check(
    'global limit exact across replicas',
    limited.status[200] === limit.requests && limited.status[429] === extra,
    `${limit.requests + extra} requests round robin on one tenant: ${limited.status[200] ?? 0} × 200, ${limited.status[429] ?? 0} × 429 (limit ${limit.requests}/${limit.unit}; each replica admitted ${limited.perReplica200.join(' / ')})`,
  );

  // ---- 2. Prometheus sums the replicas' tokens -------------------------------------------------
  const n = opts.short ? 30 : 300;
  await roundRobin(replicas, n, 8, (i) => ({ 'x-tenant-id': `tenant-${i % 50}` }), usage);
  const sent = Date.now();
  await waitFor(async () => (await promQuery(prom.url, `min(timestamp(up{job="${adminService.metadata.name}"}))`))[0]?.value[1] * 1000 > sent, 'a scrape of every replica after the traffic', 60_000);
  const sums = Object.fromEntries(
    (await promQuery(prom.url, `sum by (gen_ai_token_type) (gen_ai_client_token_usage_token_sum{job="${adminService.metadata.name}"})`)).map((r) => [r.metric.gen_ai_token_type, Number(r.value[1])]),
  );
  check('Prometheus sums the replicas’ tokens', sums.input === usage.input && sums.output === usage.output, `clients received ${usage.input} input + ${usage.output} output tokens; Prometheus sums ${sums.input} + ${sums.output}`);

  // ---- 3. the alerts, unit-tested with promtool ------------------------------------------------
  const rulesDir = join(work, 'rules');
  mkdirSync(rulesDir);
  writeFileSync(join(rulesDir, 'tollgate-rules.yaml'), stringify(rule.spec));
  copyFileSync(join(KUSTOMIZE_DIR, 'overlays/prometheus-operator/alerts.test.yaml'), join(rulesDir, 'alerts.test.yaml'));
  let promtool;
  try {
    promtool = { ok: true, out: execFileSync('promtool', ['test', 'rules', join(rulesDir, 'alerts.test.yaml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    promtool = { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
  check('alerts fire on unhealthy series, stay silent on healthy ones (promtool test rules)', promtool.ok && /SUCCESS/.test(promtool.out), promtool.ok ? 'SUCCESS' : promtool.out.trim());

  // ---- 4. one replica killed mid-run -----------------------------------------------------------
  const victim = replicas[replicaCount - 1];
  // The victim's requests wait longer at the backend, so it surely holds some when it dies.
  const slow = (id, replica) => ({ 'x-tenant-id': `kill-${id % 50}`, 'x-sim-fault': `slow-first-byte=${replica === victim ? 2000 : 200}` });
  const killed = await roundRobin(replicas, opts.short ? 45 : 300, 12, slow, usage, {
    after: opts.short ? 12 : 60,
    // Kill it while the gateway itself reports requests in flight, then take the client's view of
    // what it held: those, and only those, may fail.
    act: async (inFlight) => {
      await waitFor(async () => /^tollgate_requests_in_flight ([2-9]|\d\d)/m.test(await (await fetch(`http://127.0.0.1:${victim.ports.admin}/metrics`)).text()), `requests in flight on ${victim.name}`);
      victim.gw.kill();
      victim.alive = false;
      return new Set(inFlight().filter((r) => r.replica === victim).map((r) => r.id));
    },
  });
  const lostOthers = killed.failures.filter((f) => f.replica !== victim);
  const lostVictim = killed.failures.filter((f) => f.replica === victim);
  const held = killed.actResult ?? new Set();
  check(
    'killing one replica loses only its in-flight requests',
    lostOthers.length === 0 && lostVictim.length > 0 && lostVictim.every((f) => held.has(f.id)),
    `SIGKILL ${victim.name} while it held ${held.size} requests: ${lostVictim.length} of them failed (any other had its answer on the way), ${lostOthers.length} failures on the other replicas, ${killed.status[200] ?? 0} answered 200`,
  );
  prom.child.kill('SIGTERM');
}

// ---- traffic ----------------------------------------------------------------------------------

/**
 * `total` chat requests over `concurrency` connections, request i to the i-th live replica in turn,
 * as a Service spreads connections. `at.after` requests in, `at.act` runs once, given a view of
 * the requests in flight (a replica it takes out of the rotation gets no new ones, as with its
 * endpoint removed).
 */
async function roundRobin(replicas, total, concurrency, headersFor, usage, at) {
  const status = {};
  const perReplica200 = replicas.map(() => 0);
  const failures = [];
  const inFlight = new Map();
  let next = 0;
  let turn = 0;
  let started = 0; // requests taken, so the action runs once
  let actResult;
  const worker = async () => {
    while (next < total) {
      const id = next++;
      if (at !== undefined && started++ === at.after) actResult = await at.act(() => [...inFlight.values()]);
      const live = replicas.filter((r) => r.alive);
      const replica = live[turn++ % live.length];
      inFlight.set(id, { id, replica });
      try {
        const res = await fetch(`http://127.0.0.1:${replica.ports.listen}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headersFor(id, replica) },
          body: JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: `Request ${id}: say something.` }], max_tokens: 24 }),
        });
        const body = await res.json();
        status[res.status] = (status[res.status] ?? 0) + 1;
        if (res.status === 200) {
          perReplica200[replicas.indexOf(replica)]++;
          usage.input += body.usage.prompt_tokens;
          usage.output += body.usage.completion_tokens;
        }
      } catch (err) {
        failures.push({ id, replica, error: err.cause?.code ?? err.message });
      } finally {
        inFlight.delete(id);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { status, perReplica200, failures, actResult };
}

// ---- helpers ----------------------------------------------------------------------------------

function tenantLimit(files) {
  for (const text of Object.values(files)) {
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS();
      const rules = o?.kind === 'BackendTrafficPolicy' ? o.spec?.rateLimit?.global?.rules : undefined;
      const r = rules?.find((x) => x.clientSelectors?.[0]?.headers?.[0]?.name === 'x-tenant-id');
      if (r !== undefined) return r.limit;
    }
  }
  throw new Error('the rendered config has no global per-tenant (x-tenant-id) request limit to rehearse');
}

function secretValue(objects) {
  const data = find(objects, 'Secret', 'tollgate-backend-keys').data;
  const values = new Set(Object.values(data).map((v) => Buffer.from(v, 'base64').toString('utf8')));
  if (values.size !== 1) throw new Error('the rehearsal serves one backend key; the rendered Secret holds several different ones');
  return [...values][0];
}

async function startPrometheus(replicas, monitor, { job, namespace }) {
  const dir = join(work, 'prometheus');
  mkdirSync(dir);
  const config = {
    global: { scrape_interval: monitor.interval, scrape_timeout: monitor.scrapeTimeout ?? '10s' },
    scrape_configs: [
      {
        job_name: job,
        metrics_path: monitor.path,
        // One static target per pod with the labels the operator's relabelling gives them.
        static_configs: replicas.map((r) => ({ targets: [`127.0.0.1:${r.ports.admin}`], labels: { namespace, pod: r.name } })),
      },
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true, 'Prometheus to be ready', 60_000);
  return { url, child };
}

async function promQuery(url, q) {
  const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = await r.json();
  if (body.status !== 'success') throw new Error(`Prometheus query ${q}: ${body.error}`);
  return body.data.result;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => resolve(false));
  });
}

async function waitFor(fn, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
