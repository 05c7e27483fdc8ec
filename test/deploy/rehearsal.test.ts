// `npm run rehearse:cluster -- --short`: three replicas of the rendered Deployment on one Redis, a
// real Prometheus scraping them as the ServiceMonitor says, the alert unit tests, a replica killed.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

interface Rehearsal {
  ok: boolean;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}

it('rehearses the redis overlay on three replicas: exact global limit, Prometheus sums, alerts, a killed replica', async () => {
  const out = await new Promise<string>((resolve) => {
    execFile(process.execPath, [join(ROOT, 'scripts/rehearse-cluster.mjs'), '--short', '--json'], { cwd: ROOT, timeout: 240_000 }, (_err, stdout, stderr) => resolve(stdout + stderr));
  });
  const result = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as Rehearsal;
  expect(result.checks.map((c) => c.name)).toEqual([
    'global limit exact across replicas',
    'Prometheus sums the replicas’ tokens',
    'alerts fire on unhealthy series, stay silent on healthy ones (promtool test rules)',
    'killing one replica loses only its in-flight requests',
  ]);
  for (const c of result.checks) expect(c.ok, `${c.name}: ${c.detail}`).toBe(true);
  expect(result.ok).toBe(true);
}, 300_000);
