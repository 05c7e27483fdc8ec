// `tollgate validate` as users run it: the real CLI process (bin/tollgate.js → dist/).
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { backend, docs, EXAMPLES, route, TempDir } from './helpers.js';

const dir = new TempDir('tollgate-cli-');
afterAll(() => dir.remove());

describe('tollgate validate', () => {
  it('accepts the basic example unchanged and summarizes it (exit 0)', async () => {
    const r = await runCli(['validate', '--config', join(EXAMPLES, 'basic/basic.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid: 1 route (1 rule), 1 backend, 0 warnings');
    expect(r.stdout).toContain('  GatewayClass: envoy-ai-gateway-basic');
    expect(r.stdout).toContain('  Deployment: envoy-ai-gateway-basic-testupstream');
  });

  it('skips a chargeback rates file in a config directory without a warning', async () => {
    const r = await runCli(['validate', '--config', join(ROOT, 'examples/seed-scenario')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 warnings');
    expect(r.stdout + r.stderr).not.toContain('rates.yaml');
  });

  it('validates several paths at once, a directory among them', async () => {
    const r = await runCli(['validate', '--config', join(EXAMPLES, 'basic/openai.yaml'), join(EXAMPLES, 'stream_idle_timeout')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid: 2 routes (3 rules), 4 backends');
  });

  it('prints every problem with file:line:col and a hint, then exits 1', async () => {
    const file = dir.write('bad.yaml', docs(route('r').replace('backendRefs:', 'backendRef:'), backend('be').replace('name: OpenAI', 'name: Cohere2')));
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${file}:12:7: error: unknown field \`backendRef\` [AIGatewayRoute default/r spec.rules[0].backendRef]\n  hint: did you mean \`backendRefs\`?\n`);
    expect(r.stdout).toMatch(new RegExp(`${file}:\\d+:\\d+: error: \`name\` must be one of .*got the string "Cohere2"[^\\n]*\\n  hint: did you mean \`Cohere\`\\?`));
    expect(r.stdout).toContain('invalid: 2 errors, 0 warnings');
  });

  it('validates the provider examples, Cohere (rerank) among them', async () => {
    const aws = await runCli(['validate', '--config', join(EXAMPLES, 'basic/aws.yaml')]);
    expect(aws.code).toBe(0);
    const r = await runCli(['validate', '--config', join(EXAMPLES, 'basic/cohere.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('valid: 1 route (1 rule), 1 backend');
    expect(r.code).toBe(0);
  });

  it('--format json carries diagnostics, summary and the redacted effective config', async () => {
    const r = await runCli(['validate', '--format', 'json', '--config', join(EXAMPLES, 'basic/openai.yaml')]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ valid: true, errors: 0, routes: 1, rules: 1, backends: 1 });
    expect(out.config.backends[0].credential.value).toBe('<redacted: Secret default/envoy-ai-gateway-basic-openai-apikey key apiKey>');
    expect(r.stdout).not.toContain('Bearer OPENAI_API_KEY');
  });

  it('--serve makes an unset ${VAR} an error; by default it is a warning', async () => {
    const ollama = join(EXAMPLES, 'aigw/ollama.yaml');
    const lenient = await runCli(['validate', '--config', ollama], { env: { OPENAI_API_KEY: undefined } });
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/warning: Secret default\/openai-apikey key apiKey refers to environment variable OPENAI_API_KEY/);
    const strict = await runCli(['validate', '--serve', '--config', ollama], { env: { OPENAI_API_KEY: undefined } });
    expect(strict.code).toBe(1);
    const withVar = await runCli(['validate', '--serve', '--config', ollama], { env: { OPENAI_API_KEY: 'sk-x' } });
    expect(withVar.code).toBe(0);
  });

  it('usage errors exit 2; --help exits 0', async () => {
    const none = await runCli(['validate']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--config is required/);
    const fmt = await runCli(['validate', '--config', 'x', '--format', 'yaml']);
    expect(fmt.code).toBe(2);
    const help = await runCli(['validate', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: tollgate validate --config PATH/);
  });

  it('a missing path is a diagnostic, not a crash', async () => {
    const r = await runCli(['validate', '--config', dir.join('does-not-exist.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('does-not-exist.yaml: error: no such file or directory');
  });
});
