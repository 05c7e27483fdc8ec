// The budget gauges' labels: key and team ids are capped like the other key/team labels, an id
// beyond the cap gets no series (never a shared `other` one), and backend-scoped budgets carry
// their backend. A real prom-client registry, read as Prometheus text.
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BudgetMetrics } from '../../src/telemetry/budget-metrics.js';
import { LabelBounds } from '../../src/telemetry/labels.js';

describe('budget gauges', () => {
  it('caps key ids like gen_ai_client_cost_total does, and labels backend-scoped budgets', async () => {
    const registry = new Registry();
    const labels = new LabelBounds();
    const m = new BudgetMetrics(registry, labels);
    for (let i = 0; i < 250; i++) m.remaining(`key:k${String(i).padStart(11, '0')}`, '30d', i);
    m.remaining('team:search', '1d', 7.5);
    m.remaining('team:search@openai', '1d', 2.25);
    m.remaining('key:k00000000001@vllm', '7d', 0.5);
    m.remaining('org:acme', 'month', 100);
    const text = await registry.metrics();
    const keyLines = text.split('\n').filter((l) => l.startsWith('tollgate_key_budget_remaining{'));
    // The first 200 distinct ids keep their own series; the rest get none, and `other` never appears.
    expect(keyLines.filter((l) => !l.includes('backend=')).length).toBe(200);
    expect(text).not.toContain('key="other"');
    expect(text).toContain('tollgate_key_budget_remaining{key="k00000000199",period="30d"} 199');
    expect(text).not.toContain('k00000000200');
    expect(text).toContain('tollgate_key_budget_remaining{key="k00000000001",period="7d",backend="vllm"} 0.5');
    expect(text).toContain('tollgate_budget_remaining{team="search",period="1d"} 7.5');
    expect(text).toContain('tollgate_budget_remaining{team="search",period="1d",backend="openai"} 2.25');
    expect(text).not.toContain('acme');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
  });
});
