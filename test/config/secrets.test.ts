// Secret sources and their precedence: Secret manifest, then <secretsDir>/<name>/<key> (also the
// Kubernetes volume layout with a ..data symlink), then TOLLGATE_SECRET_<NAME>_<KEY>.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatDiagnostics, loadConfig, secretEnvName, type ConfigResult } from '../../src/config/index.js';
import { apiKeyPolicy, backend, docs, errors, FIXTURES, find, route, TempDir } from './helpers.js';

let dir: TempDir;
beforeEach(() => {
  dir = new TempDir();
});
afterEach(() => dir.remove());

const base = docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 'openai-key'));

function credential(r: ConfigResult): { value: string; source: string } | undefined {
  const c = r.config?.backends.get('default/be')?.credential;
  return c === undefined ? undefined : { value: c.value.reveal(), source: c.value.source };
}

async function load(text: string, opts: { secretsDir?: string; env?: Record<string, string>; purpose?: 'serve' | 'validate' } = {}): Promise<ConfigResult> {
  const file = dir.write('config/c.yaml', text);
  return loadConfig({ paths: [file], purpose: opts.purpose ?? 'serve', env: opts.env ?? {}, secretsDir: opts.secretsDir });
}

describe('secret sources', () => {
  it('reads <secretsDir>/<name>/<key>, trimming the trailing newline', async () => {
    dir.write('secrets/openai-key/apiKey', 'sk-dir\n');
    const r = await load(base, { secretsDir: dir.join('secrets') });
    expect(credential(r)).toEqual({ value: 'Bearer sk-dir', source: `secret file ${dir.join('secrets', 'openai-key', 'apiKey')}` });
  });

  it('reads a Kubernetes Secret volume (..data symlink layout) under the secrets dir', async () => {
    const vol = dir.join('secrets', 'openai-key');
    mkdirSync(join(vol, '..2024_01_01_00_00_00.1'), { recursive: true });
    writeFileSync(join(vol, '..2024_01_01_00_00_00.1', 'apiKey'), 'sk-volume');
    symlinkSync('..2024_01_01_00_00_00.1', join(vol, '..data'));
    symlinkSync(join('..data', 'apiKey'), join(vol, 'apiKey'));
    const r = await load(base, { secretsDir: dir.join('secrets') });
    expect(credential(r)?.value).toBe('Bearer sk-volume');
  });

  it('reads TOLLGATE_SECRET_<NAME>_<KEY> from the environment', async () => {
    expect(secretEnvName('openai-key', 'apiKey')).toBe('TOLLGATE_SECRET_OPENAI_KEY_APIKEY');
    const r = await load(base, { env: { TOLLGATE_SECRET_OPENAI_KEY_APIKEY: 'sk-env' } });
    expect(credential(r)).toEqual({ value: 'Bearer sk-env', source: 'environment variable TOLLGATE_SECRET_OPENAI_KEY_APIKEY' });
  });

  it('prefers the manifest, then the directory, then the environment', async () => {
    dir.write('secrets/openai-key/apiKey', 'sk-dir');
    const env = { TOLLGATE_SECRET_OPENAI_KEY_APIKEY: 'sk-env' };
    const manifest = 'apiVersion: v1\nkind: Secret\nmetadata: {name: openai-key}\nstringData: {apiKey: sk-manifest}';
    expect(credential(await load(docs(base, manifest), { secretsDir: dir.join('secrets'), env }))?.value).toBe('Bearer sk-manifest');
    expect(credential(await load(base, { secretsDir: dir.join('secrets'), env }))?.value).toBe('Bearer sk-dir');
    // A Secret manifest without the key does not stop the search.
    const other = 'apiVersion: v1\nkind: Secret\nmetadata: {name: openai-key}\nstringData: {token: x}';
    expect(credential(await load(docs(base, other), { env }))?.value).toBe('Bearer sk-env');
  });

  it('stringData wins over data for the same key; data must be base64', async () => {
    const both = `apiVersion: v1\nkind: Secret\nmetadata: {name: openai-key}\ndata: {apiKey: ${Buffer.from('from-data').toString('base64')}}\nstringData: {apiKey: from-string}`;
    expect(credential(await load(docs(base, both)))?.value).toBe('Bearer from-string');
    const bad = 'apiVersion: v1\nkind: Secret\nmetadata: {name: openai-key}\ndata: {apiKey: "not base64!"}';
    expect(find(await load(docs(base, bad)), /data.apiKey is not valid base64/).hint).toMatch(/stringData/);
  });

  it('a missing secrets dir is an error; so is an empty or multi-line key, without printing it', async () => {
    find(await load(base, { secretsDir: dir.join('nope') }), /secrets directory not found/);
    dir.write('secrets/openai-key/apiKey', '\n');
    find(await load(base, { secretsDir: dir.join('secrets') }), /is empty/);
    dir.write('secrets/openai-key/apiKey', 'sk-line-one\nsk-line-two');
    const r = await load(base, { secretsDir: dir.join('secrets') });
    find(r, /contains a line break/);
    expect(formatDiagnostics(r.diagnostics)).not.toContain('sk-line');
  });

  it('schema errors inside a Secret never echo the value', async () => {
    const numeric = 'apiVersion: v1\nkind: Secret\nmetadata: {name: openai-key}\nstringData: {apiKey: 98765432123}';
    const r = await load(docs(base, numeric));
    const d = find(r, /`apiKey` must be a string, got a number/);
    expect(d.hint).toBe('put the value in quotes');
    expect(formatDiagnostics(r.diagnostics)).not.toContain('98765432123');
    expect(errors(r)).toHaveLength(1); // no second "not found" for the broken Secret
  });

  it('a CA bundle can come from a Secret key ca.crt in the secrets dir', async () => {
    dir.write('secrets/upstream-ca/ca.crt', readFileSync(join(FIXTURES, 'test-ca.pem'), 'utf8'));
    const tls =
      'apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {name: t}\nspec:\n  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: be}]\n  validation: {hostname: up.internal, caCertificateRefs: [{group: "", kind: Secret, name: upstream-ca}]}';
    const r = await load(docs(route('r'), backend('be'), tls), { secretsDir: dir.join('secrets') });
    expect(errors(r)).toEqual([]);
    expect(r.config!.backends.get('default/be')!.tls!.ca).toContain('BEGIN CERTIFICATE');
  });
});
