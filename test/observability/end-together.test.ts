// Without a ledger or a charge, the responses that end in one pass over the ready I/O are answered
// together at its end, then their outcomes recorded (src/core/end-of-pass.ts). Under concurrent
// load, through a real gateway to a real upstream: every answer arrives whole, and every outcome is
// counted exactly once (requests, tokens, nothing left in flight).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CHAT, parseProm, postJson, sseEvents, startObsGateway, sumOf, type ObsGateway } from './helpers.js';

let up: Upstream;
let gw: ObsGateway;

beforeAll(async () => {
  up = await startUpstream();
  gw = await startObsGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }], { apiKey: 'sk-up' }),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
  });
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

describe('responses that end together', () => {
  it('answers every one whole and records each outcome once, under concurrent load', async () => {
    const clients = 24;
    const each = 15;
    const failures: string[] = [];
    let streamed = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < each; i++) {
          const stream = (c + i) % 3 === 0;
          if (stream) streamed++;
          const r = await postJson(`${gw.url}${CHAT}`, { model: 'm', stream, messages: [{ role: 'user', content: `client ${c} request ${i}` }] }, { 'x-workload-app': 'together' });
          const text = stream
            ? sseEvents(r.text).map((e) => ((e['choices'] as Array<{ delta?: { content?: string } }> | undefined)?.[0]?.delta?.content ?? '')).join('')
            : ((r.json?.['choices'] as Array<{ message: { content: string } }> | undefined)?.[0]?.message.content ?? '');
          if (r.status !== 200 || text !== 'w0 w1 w2 w3 w4 ' || (stream && !r.text.endsWith('data: [DONE]\n\n'))) failures.push(`client ${c} request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    const total = clients * each;
    const s = parseProm(await gw.metrics());
    expect(sumOf(s, 'tollgate_requests_total', { status: '200' })).toBe(total);
    expect(sumOf(s, 'tollgate_requests_in_flight')).toBe(0);
    expect(sumOf(s, 'tollgate_streams_in_flight')).toBe(0);
    // The upstream reports 11 input tokens and 5 output tokens for each answer.
    expect(sumOf(s, 'gen_ai_client_token_usage_token_sum', { gen_ai_token_type: 'input' })).toBe(11 * total);
    expect(sumOf(s, 'gen_ai_client_token_usage_token_sum', { gen_ai_token_type: 'output' })).toBe(5 * total);
    expect(sumOf(s, 'gen_ai_client_token_usage_token_count', { gen_ai_token_type: 'input' })).toBe(total);
    expect(streamed).toBeGreaterThan(0);
  });
});
