// Memory handed back after a burst: once no request has been in flight for a while after traffic,
// the gateway runs one full garbage collection (core/idle-gc.ts), counted by
// tollgate_idle_collections_total. This checks the mechanism over real sockets: never while a stream
// is being served, after it ends (once, and once more a quiet period later), and not again while
// nothing happens. How much memory comes
// back is measured by `npm run bench:chaos`, not asserted here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, eventually, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;
const IDLE_MS = 200;

beforeAll(async () => {
  // A stream that lasts several idle periods.
  up = await startUpstream(openAIBehavior({ chunks: 12, chunkDelayMs: 100 }));
  gw = await startGateway(
    {
      'b.yaml': backendYaml('b', [{ port: up.port }]),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
    },
    // Any traffic makes a collection worth it here; the default waits for 16 MiB of growth.
    { idleCollection: { afterMs: IDLE_MS, minGrowthBytes: 0 } },
  );
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

async function collections(): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const m = /^tollgate_idle_collections_total (\d+)/m.exec(text);
  expect(m, 'tollgate_idle_collections_total is exported').not.toBeNull();
  return Number(m?.[1]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('idle collection', () => {
  it('does not collect in a process that has had no traffic', async () => {
    await sleep(IDLE_MS * 4);
    expect(await collections()).toBe(0);
  });

  it('collects after a stream ends, never while it is served', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    let during = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      during = Math.max(during, await collections());
    }
    expect(text).toContain('data: [DONE]');
    // The stream lasted over a second, several idle periods: in flight all along, so no collection.
    expect(during).toBe(0);
    // One once the stream is over, and one more after a further quiet period (when V8 also shrinks
    // the young generation it grew for the burst).
    await eventually(async () => (await collections()) === 2, 'two idle collections after the stream ended');
    // Quiet since: nothing new to hand back.
    await sleep(IDLE_MS * 5);
    expect(await collections()).toBe(2);
  });
});
