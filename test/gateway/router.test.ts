// Route selection with Gateway API precedence, compiled from real manifests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { RuntimeConfig } from '../../src/config/types.js';
import { Router } from '../../src/routing/router.js';
import { backendYaml, routeYaml, type RuleSpec } from '../helpers/gateway.js';

async function compile(routes: Record<string, RuleSpec[]>): Promise<RuntimeConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-router-'));
  try {
    const names = new Set(Object.values(routes).flatMap((rules) => rules.flatMap((r) => r.backends.map((b) => b.name))));
    await writeFile(join(dir, 'b.yaml'), [...names].map((n) => backendYaml(n, [{ port: 9 }])).join('---\n'));
    await writeFile(join(dir, 'r.yaml'), Object.entries(routes).map(([name, rules]) => routeYaml(name, rules)).join('---\n'));
    const r = await loadConfig({ paths: [dir], purpose: 'serve' });
    if (r.config === undefined) throw new Error(JSON.stringify(r.diagnostics));
    return r.config;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function view(h: Record<string, string>): { get(n: string): string | undefined } {
  return { get: (n) => h[n] };
}

function ruleName(router: Router, h: Record<string, string>): string | undefined {
  return router.match(view(h))?.name;
}

describe('router', () => {
  it('prefers the match with more header conditions, whatever the route order', async () => {
    const cfg = await compile({
      a: [{ name: 'model-only', matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b1' }] }],
      z: [{ name: 'model-and-app', matches: [{ 'x-ai-eg-model': 'm', 'x-workload-app': 'ide' }], backends: [{ name: 'b2' }] }],
    });
    const r = new Router(cfg.routes);
    expect(ruleName(r, { 'x-ai-eg-model': 'm', 'x-workload-app': 'ide' })).toBe('model-and-app');
    expect(ruleName(r, { 'x-ai-eg-model': 'm', 'x-workload-app': 'ci' })).toBe('model-only');
    expect(ruleName(r, { 'x-ai-eg-model': 'x' })).toBeUndefined();
  });

  it('breaks ties by namespace/name, then rule order', async () => {
    const cfg = await compile({
      beta: [{ name: 'beta-first', matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b1' }] }],
      alpha: [
        { name: 'alpha-first', matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b1' }] },
        { name: 'alpha-second', matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b1' }] },
      ],
    });
    expect(ruleName(new Router(cfg.routes), { 'x-ai-eg-model': 'm' })).toBe('alpha-first');
  });

  it('ORs matches, ANDs headers within one, and anchors regular expressions', async () => {
    const cfg = await compile({
      r: [
        { name: 'exact', matches: [{ 'x-ai-eg-model': 'gpt-4o' }], backends: [{ name: 'b1' }] },
        { name: 'claude-family', matches: [{ 'x-ai-eg-model': '~claude-.*' }, { 'x-workload-app': 'legacy' }], backends: [{ name: 'b2' }] },
        { name: 'regex-and-exact', matches: [{ 'x-ai-eg-model': '~llama-[0-9]+', 'x-tenant': 'acme' }], backends: [{ name: 'b1' }] },
      ],
    });
    const r = new Router(cfg.routes);
    expect(ruleName(r, { 'x-ai-eg-model': 'gpt-4o' })).toBe('exact');
    expect(ruleName(r, { 'x-ai-eg-model': 'claude-3' })).toBe('claude-family');
    expect(ruleName(r, { 'x-ai-eg-model': 'my-claude-3' })).toBeUndefined(); // anchored
    expect(ruleName(r, { 'x-ai-eg-model': 'other', 'x-workload-app': 'legacy' })).toBe('claude-family');
    expect(ruleName(r, { 'x-ai-eg-model': 'llama-3', 'x-tenant': 'acme' })).toBe('regex-and-exact');
    expect(ruleName(r, { 'x-ai-eg-model': 'llama-3', 'x-tenant': 'other' })).toBeUndefined();
    expect(ruleName(r, { 'x-ai-eg-model': 'llama-x', 'x-tenant': 'acme' })).toBeUndefined();
  });

  it('matches every request with a rule that has no matches, at the lowest precedence', async () => {
    const cfg = await compile({
      r: [
        { name: 'catch-all', backends: [{ name: 'b1' }] },
        { name: 'specific', matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b2' }] },
      ],
    });
    const r = new Router(cfg.routes);
    expect(ruleName(r, { 'x-ai-eg-model': 'm' })).toBe('specific');
    expect(ruleName(r, { 'x-ai-eg-model': 'anything' })).toBe('catch-all');
    expect(ruleName(r, {})).toBe('catch-all');
  });

  it('keeps exact-match lookups independent of the number of routes', async () => {
    const routes: Record<string, RuleSpec[]> = {};
    for (let i = 0; i < 2000; i++) routes[`route-${String(i).padStart(4, '0')}`] = [{ name: `rule-${i}`, matches: [{ 'x-ai-eg-model': `model-${i}` }], backends: [{ name: 'b1' }] }];
    const cfg = await compile(routes);
    const r = new Router(cfg.routes);
    // Structure, not timing: one signature group, so a lookup is one hash probe.
    expect((r as unknown as { groups: unknown[] }).groups).toHaveLength(1);
    expect(ruleName(r, { 'x-ai-eg-model': 'model-1999' })).toBe('rule-1999');
    expect(ruleName(r, { 'x-ai-eg-model': 'model-0' })).toBe('rule-0');
  });
});
