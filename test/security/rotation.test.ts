// Client keys rotate through the secret watcher without a restart: a key added to a mounted Secret
// starts working, a revoked one stops, within the reload time; the same for a Secret manifest edit.
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, eventually, routeYaml, startGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chat, secretYaml, securityPolicyYaml } from './helpers.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream(openAIBehavior());
});
afterAll(() => up.close());

const policy = securityPolicyYaml(
  'clients',
  `  apiKeyAuth:
    credentialRefs:
      - name: client-keys
    extractFrom:
      - headers: [x-api-key]
`,
  { annotations: { 'tollgate.io/workload-separator': '.' } },
);

const base = (port: number) => ({
  'b.yaml': backendYaml('one', [{ port }]),
  'r.yaml': routeYaml('r', [{ matches: [{ 'x-workload-app': 'ide' }], backends: [{ name: 'one' }] }]),
  'p.yaml': policy,
});

describe('key rotation from a mounted Secret volume', () => {
  it('overlaps old and new keys for one workload, then revokes the old one', async () => {
    const secrets = await mkdtemp(join(tmpdir(), 'tollgate-client-keys-'));
    const vol = join(secrets, 'client-keys');
    await mkdir(vol);
    // Kubernetes' atomic volume update: a new timestamped dir, then swap the ..data symlink.
    let n = 0;
    const publish = async (keys: Record<string, string>): Promise<void> => {
      const dir = `..2026_${++n}`;
      await mkdir(join(vol, dir));
      for (const [k, v] of Object.entries(keys)) await writeFile(join(vol, dir, k), `${v}\n`);
      await symlink(dir, join(vol, '..data_tmp'));
      await rename(join(vol, '..data_tmp'), join(vol, '..data'));
      for (const k of Object.keys(keys)) {
        await unlink(join(vol, k)).catch(() => undefined);
        await symlink(join('..data', k), join(vol, k));
      }
    };
    const OLD = 'ide-key-2026-05-aaaaaaaaaaaaaaaaaaaa';
    const NEW = 'ide-key-2026-06-bbbbbbbbbbbbbbbbbbbb';
    await publish({ 'ide.2026-05': OLD });
    const gw = await startGateway(base(up.port), { secretsDir: secrets });
    try {
      expect((await chat(gw.url, 'm', { 'x-api-key': OLD })).status).toBe(200);
      expect(up.requests.at(-1)?.headers['x-workload-app']).toBe('ide');
      expect((await chat(gw.url, 'm', { 'x-api-key': NEW })).status).toBe(401);

      await publish({ 'ide.2026-05': OLD, 'ide.2026-06': NEW });
      await eventually(async () => (await chat(gw.url, 'm', { 'x-api-key': NEW })).status === 200, 'the new key to work');
      expect((await chat(gw.url, 'm', { 'x-api-key': OLD })).status).toBe(200);

      await unlink(join(vol, 'ide.2026-05'));
      await publish({ 'ide.2026-06': NEW });
      await eventually(async () => (await chat(gw.url, 'm', { 'x-api-key': OLD })).status === 401, 'the revoked key to stop working');
      expect((await chat(gw.url, 'm', { 'x-api-key': NEW })).status).toBe(200);
      const all = gw.logs.join('\n');
      expect(all).not.toContain(OLD);
      expect(all).not.toContain(NEW);
    } finally {
      await gw.close();
      await rm(secrets, { recursive: true, force: true });
    }
  });
});

describe('key rotation in a Secret manifest', () => {
  it('applies an edited Secret and a removed key without restarting', async () => {
    const A = 'manifest-key-one-cccccccccccccccccccc';
    const B = 'manifest-key-two-dddddddddddddddddddd';
    const gw = await startGateway({ ...base(up.port), 's.yaml': secretYaml('client-keys', { 'ide.1': A }) });
    try {
      const gen = gw.gateway.generation?.id ?? 0;
      expect((await chat(gw.url, 'm', { 'x-api-key': A })).status).toBe(200);
      await gw.write('s.yaml', secretYaml('client-keys', { 'ide.2': B }));
      await eventually(() => (gw.gateway.generation?.id ?? 0) > gen, 'a reload');
      expect((await chat(gw.url, 'm', { 'x-api-key': A })).status).toBe(401);
      expect((await chat(gw.url, 'm', { 'x-api-key': B })).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});
