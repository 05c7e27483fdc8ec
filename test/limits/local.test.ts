// Local (in-process) rate limits: exact request limits, token budgets charged with real usage,
// selectors, concurrency, reservation, shadow mode, reload behaviour, headers and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { btpYaml, chat, costRouteYaml, headerSel, metricValue, TOKEN_COST } from '../helpers/limits.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let slow: Upstream;

beforeAll(async () => {
  // Every answer reports prompt 11 + completion 6 = 17 tokens.
  up = await startUpstream(openAIBehavior({ chunks: 6 }));
  slow = await startUpstream(openAIBehavior({ chunks: 6, chunkDelayMs: 60 }));
});

afterAll(async () => {
  await up.close();
  await slow.close();
});

async function gatewayWith(policy: string, opts: { backend?: Upstream; route?: string } = {}): Promise<TestGateway> {
  return startGateway({
    'b.yaml': backendYaml('b', [{ port: (opts.backend ?? up).port }]),
    'r.yaml': opts.route ?? costRouteYaml('r', 'm', [{ name: 'b' }]),
    'p.yaml': policy,
  });
}

describe('request limits', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await gatewayWith(btpYaml('limits', 'r', 'Local', [{ selectors: headerSel('x-workload-app', 'Exact', 'swe-rebench-ide'), requests: 2, unit: 'Minute' }]));
  });
  afterAll(() => gw.close());

  it('seed test case 1: six rapid requests → 200, 200, 429 ×4, and the counter rises by exactly 4', async () => {
    const metrics = (): Promise<string> => fetch(`${gw.adminUrl}/stats/prometheus`).then((r) => r.text());
    const before = metricValue(await metrics(), 'http_local_rate_limit_rate_limited');
    const statuses: number[] = [];
    const responses = [];
    for (let i = 0; i < 6; i++) {
      const r = await chat(gw.url, 'm', { 'x-workload-app': 'swe-rebench-ide' });
      statuses.push(r.status);
      responses.push(r);
    }
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    expect(metricValue(await metrics(), 'http_local_rate_limit_rate_limited') - before).toBe(4);
    const limited = responses[2]!;
    const body = JSON.parse(limited.text) as { error: { code: string; message: string; type: string } };
    expect(body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect(body.error.message).toContain('2 requests per minute');
    expect(body.error.message).toContain('x-workload-app=swe-rebench-ide');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(limited.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(m\d+)?s$/);
    // Successful responses carry the headers too.
    expect(responses[0]!.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(responses[1]!.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });

  it('does not limit other workloads', async () => {
    for (let i = 0; i < 5; i++) expect((await chat(gw.url, 'm', { 'x-workload-app': 'toolbench-agent' })).status).toBe(200);
  });
});

describe('exactness under concurrency', () => {
  it('admits exactly 50 of 200 concurrent requests at a limit of 50', async () => {
    const gw = await gatewayWith(btpYaml('fifty', 'r', 'Local', [{ requests: 50, unit: 'Hour' }]));
    try {
      const before = up.requests.length;
      const results = await Promise.all(Array.from({ length: 200 }, () => chat(gw.url, 'm')));
      expect(results.filter((r) => r.status === 200)).toHaveLength(50);
      expect(results.filter((r) => r.status === 429)).toHaveLength(150);
      expect(up.requests.length - before).toBe(50);
    } finally {
      await gw.close();
    }
  });
});

describe('selectors', () => {
  it('gives each Distinct value its own bucket and honours invert, regex and sourceCIDR', async () => {
    const gw = await gatewayWith(
      btpYaml('sel', 'r', 'Local', [
        { selectors: headerSel('x-tenant-id', 'Distinct'), requests: 1, unit: 'Hour' },
        { selectors: headerSel('x-tier', 'RegularExpression', 'gold|platinum', true), requests: 2, unit: 'Hour' },
        { selectors: `            - sourceCIDR:\n                value: 10.0.0.0/8\n                invert: true\n`, requests: 100, unit: 'Hour' },
      ]),
    );
    try {
      expect((await chat(gw.url, 'm', { 'x-tenant-id': 'a', 'x-tier': 'gold' })).status).toBe(200);
      expect((await chat(gw.url, 'm', { 'x-tenant-id': 'a', 'x-tier': 'gold' })).status).toBe(429);
      expect((await chat(gw.url, 'm', { 'x-tenant-id': 'b', 'x-tier': 'gold' })).status).toBe(200);
      // Not gold/platinum: the inverted rule applies (2 per hour, shared by all such requests).
      expect((await chat(gw.url, 'm', { 'x-tier': 'bronze' })).status).toBe(200);
      expect((await chat(gw.url, 'm', { 'x-tier': 'bronze' })).status).toBe(200);
      expect((await chat(gw.url, 'm', { 'x-tier': 'silver' })).status).toBe(429);
      expect((await chat(gw.url, 'm', { 'x-tier': 'platinum' })).status).toBe(200);
      const m = await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text());
      // 127.0.0.1 is outside 10.0.0.0/8, so the inverted CIDR rule saw every request.
      expect(metricValue(m, 'http_local_rate_limit_enabled_total', { rule: 'default/sel/rule-2' })).toBe(7);
    } finally {
      await gw.close();
    }
  });
});

describe('token budgets', () => {
  for (const [what, extra] of [
    ['non-streamed', {}],
    ['streamed, client did not ask for usage', { stream: true }],
    ['streamed with usage', { stream: true, stream_options: { include_usage: true } }],
  ] as const) {
    it(`charges the real usage of ${what} responses`, async () => {
      const gw = await gatewayWith(btpYaml('tokens', 'r', 'Local', [{ requests: 30, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }]));
      try {
        // 17 tokens each: the first two fit while budget remains (0 → 17 → 34), the third finds it spent.
        expect((await chat(gw.url, 'm', {}, extra)).status).toBe(200);
        const second = await chat(gw.url, 'm', {}, extra);
        expect(second.status).toBe(200);
        expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe('13');
        const third = await chat(gw.url, 'm', {}, extra);
        expect(third.status).toBe(429);
        expect(third.headers.get('x-ratelimit-limit-tokens')).toBe('30');
        expect(third.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
        expect(JSON.parse(third.text).error.message).toContain('Token budget exhausted');
      } finally {
        await gw.close();
      }
    });
  }

  it('charges a CEL cost (input_tokens == uint(11) ? 100 : 1)', async () => {
    const gw = await gatewayWith(btpYaml('cel', 'r', 'Local', [{ requests: 150, unit: 'Hour', cost: TOKEN_COST('llm_cel') }]));
    try {
      expect((await chat(gw.url, 'm')).status).toBe(200); // costs 100
      expect((await chat(gw.url, 'm')).status).toBe(200); // budget left (50): admitted, costs 100
      expect((await chat(gw.url, 'm')).status).toBe(429);
    } finally {
      await gw.close();
    }
  });

  it('bounds a concurrent burst with reservation mode, while plain budgets overshoot', async () => {
    // Budget 100 tokens; each request reserves its prompt estimate + max_tokens 40.
    const policy = (reserve: boolean): string =>
      btpYaml('burst', 'r', 'Local', [{ requests: 100, unit: 'Hour', cost: TOKEN_COST('llm_total_token') }], reserve ? '  annotations:\n    tollgate.io/token-reservation: "true"\n' : '');
    const burst = async (reserve: boolean): Promise<number> => {
      const gw = await gatewayWith(policy(reserve), { backend: slow });
      try {
        const rs = await Promise.all(Array.from({ length: 10 }, () => chat(gw.url, 'm', {}, { max_tokens: 40, stream: true })));
        return rs.filter((r) => r.status === 200).length;
      } finally {
        await gw.close();
      }
    };
    expect(await burst(false)).toBe(10); // all admitted before any response charged: overshoot
    const reserved = await burst(true);
    expect(reserved).toBeGreaterThanOrEqual(1);
    expect(reserved).toBeLessThanOrEqual(2); // ≥ 40 + prompt tokens each: at most two fit in 100
  });
});

describe('concurrency limits', () => {
  it('admits at most maxConcurrent requests in flight, and frees slots as they finish', async () => {
    const gw = await gatewayWith(btpYaml('conc', 'r', 'Local', [{ maxConcurrent: 3 }]), { backend: slow });
    try {
      const rs = await Promise.all(Array.from({ length: 8 }, () => chat(gw.url, 'm', {}, { stream: true })));
      expect(rs.filter((r) => r.status === 200)).toHaveLength(3);
      const limited = rs.filter((r) => r.status === 429);
      expect(limited).toHaveLength(5);
      expect(JSON.parse(limited[0]!.text).error.code).toBe('concurrency_limited');
      expect((await chat(gw.url, 'm')).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
  it('counts a rule with both a request limit and maxConcurrent once per request, and releases its slot each time', async () => {
    const gw = await gatewayWith(btpYaml('both', 'r', 'Local', [{ requests: 5, unit: 'Hour', maxConcurrent: 1 }]));
    try {
      // One at a time: each finishes (and frees the one slot) before the next; the sixth is over the limit.
      for (let i = 0; i < 5; i++) expect((await chat(gw.url, 'm')).status).toBe(200);
      const over = await chat(gw.url, 'm');
      expect(over.status).toBe(429);
      expect(JSON.parse(over.text).error.code).toBe('rate_limited');
      const m = await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text());
      expect(metricValue(m, 'http_local_rate_limit_enabled_total', { rule: 'default/both/rule-0' })).toBe(6);
      expect(metricValue(m, 'http_local_rate_limit_ok_total', { rule: 'default/both/rule-0' })).toBe(5);
      expect(metricValue(m, 'http_local_rate_limit_rate_limited_total', { rule: 'default/both/rule-0' })).toBe(1);
    } finally {
      await gw.close();
    }
  });
});

describe('shadow mode', () => {
  it('counts requests over a shadow rule without rejecting them', async () => {
    const gw = await gatewayWith(btpYaml('shadow', 'r', 'Local', [{ requests: 1, unit: 'Hour', extra: '          shadowMode: true\n' }]));
    try {
      for (let i = 0; i < 3; i++) expect((await chat(gw.url, 'm')).status).toBe(200);
      const m = await fetch(`${gw.adminUrl}/metrics`).then((r) => r.text());
      expect(metricValue(m, 'tollgate_rate_limit_shadow_exceeded_total')).toBe(2);
      expect(metricValue(m, 'http_local_rate_limit_rate_limited_total')).toBe(0);
    } finally {
      await gw.close();
    }
  });
});

describe('reloads', () => {
  it('keeps bucket state across unrelated changes and resets it only when the rule changes', async () => {
    const gw = await gatewayWith(btpYaml('keep', 'r', 'Local', [{ requests: 1, unit: 'Hour' }]));
    try {
      expect((await chat(gw.url, 'm')).status).toBe(200);
      expect((await chat(gw.url, 'm')).status).toBe(429);
      const gen = gw.gateway.generation?.id ?? 0;
      // An unrelated change: a second backend appears.
      await gw.write('extra.yaml', backendYaml('unused', [{ port: up.port }]));
      await waitFor(() => (gw.gateway.generation?.id ?? 0) > gen);
      expect((await chat(gw.url, 'm')).status).toBe(429);
      // The rule itself changes: a fresh bucket.
      const gen2 = gw.gateway.generation?.id ?? 0;
      await gw.write('p.yaml', btpYaml('keep', 'r', 'Local', [{ requests: 2, unit: 'Hour' }]));
      await waitFor(() => (gw.gateway.generation?.id ?? 0) > gen2);
      expect((await chat(gw.url, 'm')).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

async function waitFor(fn: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
