// The InferencePool endpoint picker end to end: a real gateway in front of real simulated vLLM
// replicas (each its own engine, KV cache, prefix cache and /metrics), driven by the OpenAI SDK.
// Where requests went is read from the picker's debug header and the admin /metrics.
import { createSocket, type Socket } from 'node:dgram';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { poolYaml } from '../helpers/inference-pool.js';

// Slow enough steps that a replica with two running sequences and a queue stays saturated for a
// while; outputs are exactly max_tokens long.
const PROFILE = { extends: 'fast', scheduler: { maxNumSeqs: 2, maxNumBatchedTokens: 8192, longPrefillTokenThreshold: 0, maxWaiting: 4096 }, cost: { fixedMs: 15, prefillTokenMs: 0, decodeSeqMs: 0, contextTokenMs: 0 } };

const sims: SimServerHandle[] = [];
let gw: TestGateway | undefined;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

// Prefill takes a millisecond a prompt token: a long cold prompt keeps its replica busy computing it
// for seconds before the first token, short ones answer at once.
const SLOW_PREFILL = { extends: 'fast', scheduler: { maxNumSeqs: 8, maxNumBatchedTokens: 65536, longPrefillTokenThreshold: 0, maxWaiting: 4096 }, cost: { fixedMs: 2, prefillTokenMs: 1, decodeSeqMs: 0, contextTokenMs: 0 } };

async function startSims(n: number, ports: number[] = [], profile: object = PROFILE): Promise<SimServerHandle[]> {
  const out: SimServerHandle[] = [];
  for (let i = 0; i < n; i++) out.push(await startSimServer({ profile: profile as never, port: ports[i] ?? 0, seed: i }));
  sims.push(...out);
  return out;
}

/** One chat completion through the gateway; returns the endpoint the picker chose. */
async function ask(client: OpenAI, content: string, maxTokens = 2, headers: Record<string, string> = {}): Promise<string> {
  const { response } = await client.chat.completions.create({ model: 'sim-model', max_tokens: maxTokens, messages: [{ role: 'user', content }] }, { headers }).withResponse();
  const pick = response.headers.get('x-tollgate-endpoint-pick') ?? '';
  const m = /endpoint=([^;]+)/.exec(pick);
  if (m === null) throw new Error(`no pick header: ${pick}`);
  return m[1]!;
}

function clientFor(g: TestGateway): OpenAI {
  return new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

/**
 * A DNS server on a UDP port of its own that answers A queries for one name with the given
 * addresses (a headless Service's answer), and nothing for any other name or type.
 */
async function startDns(name: string, answers: () => readonly string[]): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', (q, from) => {
    // Question: the name as labels from byte 12, then type and class.
    const labels: string[] = [];
    let i = 12;
    while (q[i] !== 0 && i < q.length) {
      labels.push(q.toString('latin1', i + 1, i + 1 + q[i]!));
      i += 1 + q[i]!;
    }
    const qEnd = i + 5;
    const isA = q.readUInt16BE(i + 1) === 1;
    const addrs = isA && labels.join('.').toLowerCase() === name ? answers() : [];
    const head = Buffer.alloc(12);
    q.copy(head, 0, 0, 2);
    head.writeUInt16BE(addrs.length > 0 ? 0x8180 : 0x8183, 2); // response, recursion available; NXDOMAIN when empty
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(addrs.length, 6);
    const records = addrs.map((a) => {
      const r = Buffer.alloc(16);
      r.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      r.writeUInt16BE(1, 2); // A
      r.writeUInt16BE(1, 4); // IN
      r.writeUInt32BE(1, 6); // TTL
      r.writeUInt16BE(4, 10);
      a.split('.').forEach((o, k) => r.writeUInt8(Number(o), 12 + k));
      return r;
    });
    socket.send(Buffer.concat([head, q.subarray(12, qEnd), ...records]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket };
}

async function metrics(g: TestGateway): Promise<string> {
  return (await fetch(`${g.adminUrl}/metrics`)).text();
}

const words = (seed: number, n: number): string => Array.from({ length: n }, (_, i) => `w${(seed * 7919 + i * 104729) % 100000}`).join(' ');

describe('InferencePool endpoint picker over simulated replicas', () => {
  it('sends less to a saturated replica', async () => {
    const [a, b, c] = await startSims(3);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port, c!.port]) });
    // Fill replica a directly (not through the gateway): two running, eight waiting. The answers are
    // long enough that the queue outlasts the test however slow the machine; they are cut at the end.
    const direct = new OpenAI({ baseURL: `${a!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stopLoad = new AbortController();
    const load = Array.from({ length: 10 }, (_, i) =>
      direct.chat.completions.create({ model: 'sim-model', max_tokens: 4000, messages: [{ role: 'user', content: `load ${i}` }] }, { signal: stopLoad.signal }),
    );
    await eventually(async () => /vllm:num_requests_waiting\{[^}]*\} [1-9]/.test(await (await fetch(`${a!.url}/metrics`)).text()), 'replica a has a queue');
    await new Promise((r) => setTimeout(r, 150)); // a scrape or two
    const client = clientFor(gw);
    const got = new Map<string, number>();
    const count = (ep: string): void => void got.set(ep, (got.get(ep) ?? 0) + 1);
    // A request the picker does send to replica a waits behind its queue: leave it waiting (it is
    // counted when the queue is cut below) rather than hold the loop, so a slow machine cannot turn
    // one such pick into a test timeout.
    const queued: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      const answer = ask(client, `question ${i}: ${words(i, 20)}`).then(count);
      const settled = await Promise.race([answer.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 2_000))]);
      if (!settled) queued.push(answer);
    }
    stopLoad.abort();
    await Promise.allSettled(load);
    await Promise.all(queued);
    const toA = got.get(`127.0.0.1:${a!.port}`) ?? 0;
    expect(toA).toBeLessThan(got.get(`127.0.0.1:${b!.port}`) ?? 0);
    expect(toA).toBeLessThan(got.get(`127.0.0.1:${c!.port}`) ?? 0);
    const text = await metrics(gw);
    expect(text).toMatch(new RegExp(`tollgate_endpoint_picks_total\\{pool="default/vllm",endpoint="127.0.0.1:${b!.port}"\\} [1-9]`));
    expect(text).toMatch(new RegExp(`tollgate_endpoint_score\\{pool="default/vllm",endpoint="127.0.0.1:${a!.port}",scorer="queue"\\} `));
  });

  it('keeps a conversation on the replica that holds its prefix, and a session on its replica', async () => {
    const [a, b, c] = await startSims(3);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port, c!.port], { 'tollgate.io/session-header': 'x-session-id' }) });
    const client = clientFor(gw);
    // A conversation whose every turn repeats the whole history (as chat clients send it).
    let history = `You are a helpful agent. ${words(1, 600)}`;
    const first = await ask(client, history);
    for (let turn = 0; turn < 4; turn++) {
      history += ` turn ${turn}: ${words(turn + 10, 40)}`;
      expect(await ask(client, history)).toBe(first);
    }
    // A session key keeps unrelated prompts together too.
    const s1 = await ask(client, `alpha ${words(50, 30)}`, 2, { 'x-session-id': 'session-7' });
    for (let i = 0; i < 4; i++) expect(await ask(client, `unrelated ${i} ${words(60 + i, 30)}`, 2, { 'x-session-id': 'session-7' })).toBe(s1);
  });

  it('keeps a session on its replica by a key a CEL expression derives from the request', async () => {
    const [a, b, c] = await startSims(3);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port, c!.port], { 'tollgate.io/session-key-cel': 'headers["x-tenant"] + "/" + user' }) });
    const client = clientFor(gw);
    const askAs = async (user: string, content: string): Promise<string> => {
      const { response } = await client.chat.completions
        .create({ model: 'sim-model', max_tokens: 2, user, messages: [{ role: 'user', content }] }, { headers: { 'x-tenant': 'acme' } })
        .withResponse();
      return response.headers.get('x-tollgate-endpoint-pick') ?? '';
    };
    const first = /endpoint=([^;]+)/.exec(await askAs('alice', `hello ${words(70, 30)}`))?.[1];
    expect(first).toBeDefined();
    for (let i = 0; i < 5; i++) {
      const pick = await askAs('alice', `unrelated ${i} ${words(80 + i, 30)}`);
      expect(pick).toContain(`endpoint=${first!};`);
      expect(pick).toContain('reason=session;');
    }
    // Without the header the expression fails for that request: no key, the request is still served.
    const { response } = await client.chat.completions.create({ model: 'sim-model', max_tokens: 2, user: 'alice', messages: [{ role: 'user', content: 'no tenant' }] }).withResponse();
    expect(response.headers.get('x-tollgate-endpoint-pick')).not.toContain('reason=session');
  });

  it('keys a session by the request line (method and path) through a CEL expression', async () => {
    const [a, b, c] = await startSims(3);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port, c!.port], { 'tollgate.io/session-key-cel': 'method == "POST" && path.startsWith("/v1/chat/") ? path + "|" + user : ""' }) });
    const client = clientFor(gw);
    const chat = async (content: string, query?: Record<string, string>): Promise<string> => {
      const { response } = await client.chat.completions.create({ model: 'sim-model', max_tokens: 2, user: 'bob', messages: [{ role: 'user', content }] }, { query }).withResponse();
      return response.headers.get('x-tollgate-endpoint-pick') ?? '';
    };
    const first = /endpoint=([^;]+)/.exec(await chat(`hello ${words(90, 30)}`))?.[1];
    expect(first).toBeDefined();
    for (let i = 0; i < 4; i++) {
      const pick = await chat(`unrelated ${i} ${words(100 + i, 30)}`);
      expect(pick).toContain(`endpoint=${first!};`);
      expect(pick).toContain('reason=session;');
    }
    // The query string is part of the path: another key, first scored, then its own session.
    expect(await chat(`other ${words(120, 30)}`, { tenant: 'x' })).toContain('reason=scored;');
    expect(await chat(`other again ${words(121, 30)}`, { tenant: 'x' })).toContain('reason=session;');
    // Another path is outside the expression's sessions: scored like any request.
    const { response } = await client.completions.create({ model: 'sim-model', max_tokens: 2, user: 'bob', prompt: `complete ${words(130, 30)}` }).withResponse();
    expect(response.headers.get('x-tollgate-endpoint-pick')).toContain('reason=scored;');
  });

  it('ejects a replica that dies and takes it back when it returns', async () => {
    const [a, b, c] = await startSims(3);
    const portC = c!.port;
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port, portC]) });
    const client = clientFor(gw);
    await c!.close();
    sims.splice(sims.indexOf(c!), 1);
    const ejected = new RegExp(`tollgate_endpoint_ejected\\{pool="default/vllm",endpoint="127.0.0.1:${portC}"\\} 1`);
    await eventually(async () => ejected.test(await metrics(gw!)), 'the dead replica is ejected');
    for (let i = 0; i < 9; i++) expect(await ask(client, `while c is down ${i} ${words(i, 10)}`)).not.toBe(`127.0.0.1:${portC}`);
    await startSims(1, [portC]);
    // Back after its backoff (seconds at most here); spread requests until one lands there.
    await eventually(async () => (await ask(client, `after ${Math.random()} ${words(3, 10)}`)) === `127.0.0.1:${portC}`, 'the replica gets traffic again', 15_000);
  });

  it('with stale metrics (no /metrics to scrape) still spreads by the in-flight count', async () => {
    const [a, b, c] = await startSims(3);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port, c!.port], { 'tollgate.io/metrics-path': '/no-such-metrics' }) });
    const client = clientFor(gw);
    const picks = await Promise.all(Array.from({ length: 6 }, (_, i) => ask(client, `concurrent ${i} ${words(i + 100, 30)}`, 40)));
    expect(new Set(picks).size).toBe(3);
    // Nothing was ejected: the replicas serve, only their numbers are missing.
    expect(await metrics(gw)).not.toMatch(/tollgate_endpoint_ejected\{[^}]*\} 1/);
  });

  it('turns a host name into its addresses (A records)', async () => {
    const [a] = await startSims(1);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port]).replace(`127.0.0.1:${a!.port}`, `localhost:${a!.port}`) });
    const client = clientFor(gw);
    await eventually(async () => (await ask(client, `dns ${Math.random()}`)) === `127.0.0.1:${a!.port}`, 'localhost resolved to 127.0.0.1');
  });

  it('spreads over every A record of a name, as the pool DNS server answers them, and follows a changed answer', async () => {
    const [a] = await startSims(1);
    // The same port on a second loopback address: two replicas behind one name and port.
    const b = await startSimServer({ profile: PROFILE as never, host: '127.0.0.2', port: a!.port, seed: 1 });
    sims.push(b);
    let answer = ['127.0.0.1', '127.0.0.2'];
    const dns = await startDns('replicas.pool.test', () => answer);
    try {
      gw = await startGateway({
        'pool.yaml': poolYaml([a!.port], { 'tollgate.io/dns-servers': `127.0.0.1:${dns.port}`, 'tollgate.io/endpoint-picker': 'round-robin' }).replace(`127.0.0.1:${a!.port}`, `replicas.pool.test:${a!.port}`),
      });
      const client = clientFor(gw);
      const seen = new Set<string>();
      await eventually(async () => {
        seen.add(await ask(client, `dns ${Math.random()}`));
        return seen.has(`127.0.0.1:${a!.port}`) && seen.has(`127.0.0.2:${a!.port}`);
      }, 'both addresses of the name get requests');
      // The name now has one address (re-resolved every 5 s at the fastest).
      answer = ['127.0.0.2'];
      await eventually(async () => {
        const picks = await Promise.all([0, 1, 2, 3].map((i) => ask(client, `after ${i} ${Math.random()}`)));
        return picks.every((p) => p === `127.0.0.2:${a!.port}`);
      }, 'only the remaining address gets requests', 15_000);
    } finally {
      dns.socket.close();
    }
  });

  it('steers requests away from a replica that is computing a long prefill for the gateway, until its first byte', async () => {
    const [a, b] = await startSims(2, [], SLOW_PREFILL);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port]) });
    const client = clientFor(gw);
    const g = gw;
    const picks = async (): Promise<Map<string, number>> => {
      const m = new Map<string, number>();
      for (const x of (await metrics(g)).matchAll(/tollgate_endpoint_picks_total\{pool="default\/vllm",endpoint="([^"]+)"\} (\d+)/g)) m.set(x[1]!, Number(x[2]));
      return m;
    };
    const prefillScore = async (ep: string): Promise<number> => {
      const m = new RegExp(`tollgate_endpoint_score\\{pool="default/vllm",endpoint="${ep}",scorer="prefill"\\} ([0-9.e-]+)`).exec(await metrics(g));
      return m === null ? Number.NaN : Number(m[1]);
    };
    // A cold prompt of some 5,000 tokens: seconds of prefill before its first token.
    // The response head comes with the first token, so the request is not awaited until then.
    const long = client.chat.completions.create({ model: 'sim-model', max_tokens: 2, stream: true, messages: [{ role: 'user', content: words(3, 2000) }] });
    await eventually(async () => [...(await picks()).values()].reduce((x, y) => x + y, 0) === 1, 'the long request was picked');
    const busy = [...(await picks())].find(([, n]) => n === 1)![0];
    const other = busy === `127.0.0.1:${a!.port}` ? `127.0.0.1:${b!.port}` : `127.0.0.1:${a!.port}`;
    // Short prompts of new content go to the other replica while the long one has no first byte.
    for (let i = 0; i < 3; i++) expect(await ask(client, `short ${i}: ${words(40 + i, 10)}`)).toBe(other);
    expect(await prefillScore(busy)).toBeLessThan(await prefillScore(other));
    // Its first token arrives: that prefill no longer counts against the replica.
    const stream = await long;
    const first = await stream[Symbol.asyncIterator]().next();
    expect(first.done).toBe(false);
    await ask(client, `after: ${words(50, 10)}`);
    expect(await prefillScore(busy)).toBe(1);
    expect(await prefillScore(other)).toBe(1);
    stream.controller.abort();
  });

  it('follows hot reloads of the endpoint list', async () => {
    const [a, b, c] = await startSims(3);
    gw = await startGateway({ 'pool.yaml': poolYaml([a!.port, b!.port]) });
    const client = clientFor(gw);
    const before = new Set<string>();
    for (let i = 0; i < 6; i++) before.add(await ask(client, `before ${i} ${words(i, 10)}`));
    expect(before.has(`127.0.0.1:${c!.port}`)).toBe(false);
    await gw.write('pool.yaml', poolYaml([b!.port, c!.port]));
    await eventually(async () => (await ask(client, `probe ${Math.random()}`)) === `127.0.0.1:${c!.port}`, 'the new endpoint gets traffic');
    for (let i = 0; i < 6; i++) expect(await ask(client, `after ${i} ${words(i, 10)}`)).not.toBe(`127.0.0.1:${a!.port}`);
  });
});
