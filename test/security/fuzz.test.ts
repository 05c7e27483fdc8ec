// Property-based fuzzing of the gateway's HTTP front door (fast-check, fixed seed, bounded runs):
// random and mutated bodies, headers, methods, paths, encodings, invalid UTF-8, deep nesting, huge
// numbers, duplicate keys and NUL bytes, sent as raw bytes over real sockets to a real gateway with
// a SecurityPolicy. Every answer must be a well-formed HTTP/1.1 response; every error OpenAI-shaped
// with an x-request-id; the process keeps serving and its heap stays bounded.
import http2 from 'node:http2';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chat, secretYaml, securityPolicyYaml } from './helpers.js';

const SEED = 20_261_122;
const RUNS = 120;
const KEY = 'fuzz-client-key-0123456789abcdef';

let up: Upstream;
let gw: TestGateway;
let port: number;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior());
  gw = await startGateway({
    'b.yaml': backendYaml('one', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-workload-app': 'fuzzer' }], backends: [{ name: 'one' }] }]),
    's.yaml': secretYaml('keys', { fuzzer: KEY }),
    'p.yaml': securityPolicyYaml('p', '  apiKeyAuth:\n    credentialRefs: [{name: keys}]\n    extractFrom: [{headers: [x-api-key]}, {headers: [authorization]}]\n'),
  });
  port = Number(new URL(gw.url).port);
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

// ---- sending and checking -------------------------------------------------------------------------

/**
 * Sends the bytes and collects the answer until the server closes. The client does not half-close
 * (Node answers a half-closed request with nothing, by design). With `idleMs`, an input that leaves
 * the server waiting for more (a truncated request) ends the exchange after that much silence.
 */
function send(bytes: Buffer, idleMs?: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const chunks: Buffer[] = [];
    const hard = setTimeout(() => s.destroy(), 15_000);
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (idleMs === undefined) return;
      if (idle !== undefined) clearTimeout(idle);
      idle = setTimeout(() => s.destroy(), idleMs);
    };
    arm();
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(hard);
      if (idle !== undefined) clearTimeout(idle);
      resolve(Buffer.concat(chunks));
    });
  });
}

interface Checked {
  readonly status: number;
}

/** Throws (failing the property) unless `raw` is empty or one well-formed HTTP/1.1 response. */
function checkResponse(response: Buffer, method: string, mayBeSilent = false): Checked | undefined {
  let raw = response;
  if (raw.length === 0) {
    if (mayBeSilent) return undefined; // a truncated request: the server is still waiting for the rest
    throw new Error('no response at all');
  }
  // Interim 1xx responses (100 Continue) precede the real one.
  while (/^HTTP\/1\.1 1\d\d /.test(raw.toString('latin1', 0, 13))) {
    const e = raw.indexOf('\r\n\r\n');
    if (e === -1) throw new Error('truncated interim response');
    raw = raw.subarray(e + 4);
  }
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no end of head in ${JSON.stringify(text.slice(0, 200))}`);
  const lines = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.1 ([1-5]\d\d) [\x20-\x7e]*$/.exec(lines[0] ?? '');
  if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(l.slice(0, i))) throw new Error(`bad header line ${JSON.stringify(l)}`);
    headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  if (!headers.has('x-request-id')) throw new Error(`no x-request-id on ${status}`);
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (method === 'HEAD') return { status };
  const cl = headers.get('content-length');
  if (headers.get('transfer-encoding') === 'chunked') body = dechunk(body);
  else if (cl !== undefined && Number(cl) !== body.length) throw new Error(`content-length ${cl} but ${body.length} body bytes`);
  if (status >= 400) {
    if (headers.get('content-type') !== 'application/json') throw new Error(`error ${status} is not JSON`);
    const j = JSON.parse(body.toString('utf8')) as { type?: unknown; error?: { message?: unknown; type?: unknown; code?: unknown } };
    // The Anthropic front door answers in Anthropic's shape (no `code`), with its request-id header.
    const anthropic = j.type === 'error' && headers.has('request-id');
    if (typeof j.error?.message !== 'string' || typeof j.error.type !== 'string' || (!anthropic && typeof j.error.code !== 'string')) {
      throw new Error(`error body is not OpenAI-shaped: ${body.toString('utf8').slice(0, 200)}`);
    }
  }
  return { status };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol === -1) throw new Error('truncated chunked body');
    const size = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

function request(method: string, path: string, headers: Array<[string, string]>, body: Buffer, framing: 'length' | 'chunked' | 'none'): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, 'host: fuzz'];
  for (const [k, v] of headers) head.push(`${k}: ${v}`);
  let payload = body;
  if (framing === 'length') head.push(`content-length: ${body.length}`);
  if (framing === 'chunked') {
    head.push('transfer-encoding: chunked');
    payload = body.length === 0 ? Buffer.from('0\r\n\r\n') : Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  }
  head.push('connection: close');
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

// ---- generators -------------------------------------------------------------------------------------

const chatBody = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], stream: false });

const body: fc.Arbitrary<Buffer> = fc.oneof(
  fc.json().map((s) => Buffer.from(s)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ model: 'm', messages: v }))),
  // Byte-level mutations of a valid request.
  fc.array(fc.tuple(fc.nat({ max: chatBody.length }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { maxLength: 8 }).map((muts) => {
    const b = [...Buffer.from(chatBody)];
    for (const [at, byte, op] of muts) {
      if (op === 'set') b[Math.min(at, b.length - 1)] = byte;
      else if (op === 'insert') b.splice(at, 0, byte);
      else b.splice(at, 1);
    }
    return Buffer.from(b);
  }),
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)), // invalid UTF-8, NULs, anything
  fc.integer({ min: 1, max: 200_000 }).map((n) => Buffer.from(`{"model":"m","messages":${'['.repeat(n)}${']'.repeat(n)}}`)),
  fc.constantFrom(
    '{"model":"m","max_tokens":1e999999,"temperature":123456789012345678901234567890123456789,"n":-0}',
    '{"model":"m","model":"x","messages":[],"messages":{"a":1}}',
    '{"model":"m\u0000","messages":[{"role":"user","content":"a\u0000b"}]}',
    '{"model":"m","stream":"yes"}',
    '{"model":["m"]}',
    '{"model":""}',
    '\ufeff{"model":"m"}',
    '{"__proto__":{"admin":true},"model":"m","constructor":{"prototype":{"x":1}}}',
  ).map((s) => Buffer.from(s)),
  fc.constant(Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])), // {"m":"<bad utf8>"}
);

const headerName = fc.oneof(
  fc.constantFrom('content-type', 'x-workload-app', 'x-api-key', 'authorization', 'x-request-id', 'content-encoding', 'accept-encoding', 'expect', 'x-ai-eg-model', 'cookie', 'x-forwarded-for', 'te', 'upgrade'),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/),
);
const headerValue = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-16', 'text/plain', 'gzip', 'fuzzer', `Bearer ${KEY}`, KEY, 'Bearer', '100-continue', 'h2c', ''),
  fc.string({ maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, '')),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a.map((x) => (x === 10 || x === 13 ? 32 : x))).toString('latin1')),
);

const method = fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'BREW');
const path = fc.oneof(
  fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models', '/anthropic/v1/messages', '/', '/v1/../admin', '/v1/chat/completions?x=%00%ff', '*'),
  fc.stringMatching(/^\/[\x21-\x7e]{0,80}$/),
);

// ---- properties -----------------------------------------------------------------------------------

function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('HTTP fuzzing (fixed seed, bounded runs)', () => {
  let heapBefore = 0;
  beforeAll(async () => {
    // Warm up every path once so lazy initialization does not count as growth.
    for (let i = 0; i < 20; i++) await send(request('POST', '/v1/chat/completions', [['content-type', 'application/json'], ['x-api-key', KEY]], Buffer.from(chatBody), 'length'));
    forceGc();
    heapBefore = process.memoryUsage().heapUsed;
  });

  it('bodies: random, mutated, deep, huge, duplicate keys, invalid UTF-8, NULs', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), fc.constantFrom<'length' | 'chunked'>('length', 'chunked'), async (b, authed, framing) => {
        const headers: Array<[string, string]> = [['content-type', 'application/json']];
        if (authed) headers.push(['x-api-key', KEY]);
        const r = checkResponse(await send(request('POST', '/v1/chat/completions', headers, b, framing)), 'POST');
        if (r !== undefined) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The run exercised both the refusal paths and the proxied path.
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 400, 401]));
  });

  it('headers, methods, paths and framing', async () => {
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }),
        body,
        fc.constantFrom<'length' | 'chunked' | 'none'>('length', 'chunked', 'none'),
        async (m, p, hs, b, framing) => {
          checkResponse(await send(request(m, p, hs, framing === 'none' ? Buffer.alloc(0) : b, framing)), m);
        },
      ),
      { seed: SEED + 1, numRuns: RUNS },
    );
  });

  it('raw garbage and truncated requests', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((a) => Buffer.from(a)) },
          {
            weight: 1,
            arbitrary: fc
              .tuple(fc.nat({ max: 200 }), body)
              .map(([cut, b]) => request('POST', '/v1/chat/completions', [['x-api-key', KEY], ['content-type', 'application/json']], b, 'length').subarray(0, cut + 20)),
          },
          {
            weight: 2,
            arbitrary: fc.constantFrom(
            'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
            'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!',
            'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nx\r\n0\r\n\r\n',
            'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n',
            'GET / HTTP/1.1\r\nhost: x\r\n x-folded: yes\r\n\r\n',
            'GET /\x00 HTTP/1.1\r\n\r\n',
            'GET / HTTP/9.9\r\n\r\n',
            ).map((s) => Buffer.from(s, 'latin1')),
          },
        ),
        async (bytes) => {
          checkResponse(await send(bytes, 400), 'POST', true);
        },
      ),
      { seed: SEED + 2, numRuns: 80 },
    );
  }, 60_000);

  it('HTTP/2: random bodies and headers on one session', async () => {
    const session = http2.connect(gw.url);
    session.on('error', () => undefined);
    try {
      await fc.assert(
        fc.asyncProperty(
          body,
          fc.array(fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), fc.string({ maxLength: 100 }).map((v) => [...v].filter((c) => c >= ' ' && c !== '\x7f').join(''))), { maxLength: 8 }),
          fc.boolean(),
          async (b, hs, authed) => {
            const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' };
            for (const [k, v] of hs) headers[k] = v;
            if (authed) headers['x-api-key'] = KEY;
            const r = await new Promise<{ status: number; headers: http2.IncomingHttpHeaders; text: string }>((resolve, reject) => {
              const st = session.request(headers);
              let text = '';
              let h: http2.IncomingHttpHeaders = {};
              st.on('response', (x) => (h = x));
              st.on('data', (c: Buffer) => (text += c.toString('utf8')));
              st.on('end', () => resolve({ status: Number(h[':status']), headers: h, text }));
              st.on('error', reject);
              st.end(b);
            });
            expect(r.headers['x-request-id']).toBeTruthy();
            if (r.status >= 400) {
              const j = JSON.parse(r.text) as { error: { message: unknown; type: unknown; code: unknown } };
              expect([typeof j.error.message, typeof j.error.type, typeof j.error.code]).toEqual(['string', 'string', 'string']);
            }
          },
        ),
        { seed: SEED + 3, numRuns: 60 },
      );
    } finally {
      session.close();
    }
  });

  it('keeps serving, with a bounded heap', async () => {
    const ok = await chat(gw.url, 'm', { 'x-api-key': KEY });
    expect(ok.status).toBe(200);
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    forceGc();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    expect(grown).toBeLessThan(48 * 1024 * 1024);
  });
});
