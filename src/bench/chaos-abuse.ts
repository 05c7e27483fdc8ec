// The abuse phase of `tollgate bench chaos`: hostile clients against the running gateway, with the
// gateway's RSS sampled from /proc. Slow readers (open a large stream, never read): the upstream
// must be held back and the readers cut after the write timeout. Vanishing readers (read a little,
// then disappear): every upstream stream aborted. Large bodies: a body of millions of distinct
// words, answered while a concurrent GET /v1/models is timed (the event loop's stall as another
// client feels it), and bodies over the JSON shape limits refused.
import http from 'node:http';
import net from 'node:net';
import { MemoryProbe, rssMb } from './chaos-memory.js';

export interface AbuseOptions {
  readonly port: number;
  /** The admin listener: its /metrics has the event-loop delay histogram (reset at each scrape). */
  readonly adminPort: number;
  readonly pid: number;
  readonly clientKey: string;
  readonly slowReaders: number;
  readonly streamMb: number;
  readonly largeBodyWords: number;
  readonly writeTimeoutMs: number;
}

export interface AbuseResult {
  readonly lines: string[];
  readonly checks: Record<string, boolean>;
  readonly json: Record<string, unknown>;
}

/** An upstream that streams `streamMb` MB per request as fast as its socket takes it. */
export class BigUpstream {
  readonly stats = { streams: 0, finished: 0, aborted: 0, bytes: 0, bodies: 0 };
  private server: http.Server | undefined;
  port = 0;

  constructor(private readonly streamBytes: number) {}

  async start(): Promise<void> {
    // Ordinary words: the gateway counts what passed, and one 16 KiB "word" would make that count the story.
    const text = 'the quick brown fox jumps over the lazy dog and keeps running '.repeat(256);
    const frame = `data: {"choices":[{"index":0,"delta":{"content":"${text}"},"finish_reason":null}]}\n\n`;
    const server = http.createServer((req, res) => {
      let size = 0;
      let streamed = false;
      let head = '';
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (head.length < 200) head += c.toString('latin1', 0, Math.min(c.length, 200));
      });
      req.on('end', () => {
        streamed = head.includes('"stream":true');
        if (!streamed) {
          this.stats.bodies++;
          const body = JSON.stringify({ id: 'big', object: 'chat.completion', model: 'chaos-big', choices: [{ index: 0, message: { role: 'assistant', content: `read ${size} bytes` }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        this.stats.streams++;
        let sent = 0;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.on('close', () => {
          if (!res.writableFinished) this.stats.aborted++;
        });
        const pump = (): void => {
          while (sent < this.streamBytes) {
            sent += frame.length;
            this.stats.bytes += frame.length;
            if (!res.write(frame)) {
              res.once('drain', pump);
              return;
            }
          }
          this.stats.finished++;
          res.end('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
        };
        pump();
      });
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.port = (server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server?.closeAllConnections();
      this.server?.close(() => r());
    });
  }
}

export async function abusePhase(o: AbuseOptions, up: BigUpstream): Promise<AbuseResult> {
  const lines: string[] = [];
  const checks: Record<string, boolean> = {};
  const json: Record<string, unknown> = {};
  const streamBody = JSON.stringify({ model: 'chaos-big', stream: true, messages: [{ role: 'user', content: 'big' }] });
  const head = (body: string | number): string =>
    `POST /v1/chat/completions HTTP/1.1\r\nhost: chaos\r\ncontent-type: application/json\r\nauthorization: Bearer ${o.clientKey}\r\ncontent-length: ${typeof body === 'number' ? body : Buffer.byteLength(body)}\r\n\r\n`;

  // ---- slow readers -------------------------------------------------------------------------
  await sleep(2_000);
  const mem = new MemoryProbe(o.pid, o.adminPort);
  const before = (await mem.mark('before slow readers')).rssMb;
  const start = { ...up.stats };
  const sockets: net.Socket[] = [];
  for (let i = 0; i < o.slowReaders; i++) {
    const s = net.connect(o.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('connect', () => {
      s.write(head(streamBody) + streamBody);
      s.pause();
    });
    sockets.push(s);
  }
  let peak = before;
  const t0 = Date.now();
  const deadline = t0 + o.writeTimeoutMs + 30_000;
  while (Date.now() < deadline && up.stats.aborted + up.stats.finished - start.aborted - start.finished < o.slowReaders) {
    await sleep(250);
    await mem.sample();
    peak = Math.max(peak, rssMb(o.pid));
  }
  mem.markPeak('slow readers, peak');
  const cutAfterS = (Date.now() - t0) / 1000;
  const aborted = up.stats.aborted - start.aborted;
  const finished = up.stats.finished - start.finished;
  const bytes = up.stats.bytes - start.bytes;
  for (const s of sockets) s.destroy();
  await sleep(3_000);
  const after = rssMb(o.pid);
  await sleep(7_000);
  const after10 = (await mem.mark('10 s after slow readers left')).rssMb;
  // The gateway collects once it has been idle 5 s, and once more after another 5 s quiet.
  await sleep(10_000);
  const after20 = (await mem.mark('20 s after slow readers left')).rssMb;
  const total = o.slowReaders * o.streamMb;
  lines.push(
    `slow readers: ${o.slowReaders} clients open a ${o.streamMb} MB stream and never read (write timeout ${o.writeTimeoutMs / 1000} s)`,
    `  upstream sent ${(bytes / 1048576).toFixed(1)} of ${total} MB; streams aborted ${aborted}, finished ${finished}; all ended after ${cutAfterS.toFixed(1)} s`,
    `  gateway RSS ${before.toFixed(1)} → peak ${peak.toFixed(1)} MB (+${((peak - before) / o.slowReaders).toFixed(2)} MB per reader) → ${after.toFixed(1)} MB 3 s, ${after10.toFixed(1)} MB 10 s and ${after20.toFixed(1)} MB 20 s after they left`,
  );
  checks['slowReadersHoldUpstreamBack'] = bytes < (total * 1048576) / 2;
  // Attempts, not clients: a reset while a hundred connections open at once may be retried.
  checks['slowReadersCutAndUpstreamAborted'] = finished === 0 && aborted >= o.slowReaders;
  checks['slowReadersMemoryBounded'] = peak - before <= o.slowReaders * 4 + 32;
  json['slowReaders'] = { readers: o.slowReaders, streamMb: o.streamMb, upstreamMb: bytes / 1048576, aborted, finished, cutAfterS, rssBefore: before, rssPeak: peak, rssAfter: after, rssAfter10s: after10, rssAfter20s: after20 };

  // ---- vanishing readers ------------------------------------------------------------------------
  const vStart = up.stats.aborted;
  const n = Math.max(1, Math.floor(o.slowReaders / 2));
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect(o.port, '127.0.0.1', () => s.write(head(streamBody) + streamBody));
          s.on('error', () => resolve());
          s.once('data', () => {
            s.destroy();
            resolve();
          });
          setTimeout(() => {
            s.destroy();
            resolve();
          }, 10_000);
        }),
    ),
  );
  const vEnd = Date.now() + 10_000;
  while (Date.now() < vEnd && up.stats.aborted - vStart < n) await sleep(100);
  lines.push(`vanishing readers: ${n} clients read the first bytes and vanish; upstream streams aborted ${up.stats.aborted - vStart}; gateway RSS ${rssMb(o.pid).toFixed(1)} MB`);
  checks['vanishingReadersUpstreamAborted'] = up.stats.aborted - vStart === n;

  // ---- large bodies -----------------------------------------------------------------------------
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const probeOnce = async (): Promise<number> => {
    const t = performance.now();
    await get(agent, o.port, o.clientKey);
    return performance.now() - t;
  };
  const idle: number[] = [];
  for (let i = 0; i < 20; i++) idle.push(await probeOnce());
  const words: string[] = new Array<string>(o.largeBodyWords);
  for (let i = 0; i < o.largeBodyWords; i++) words[i] = `w${i.toString(36)}`;
  const large = Buffer.from(JSON.stringify({ model: 'chaos-big', messages: [{ role: 'user', content: words.join(' ') }] }));
  words.length = 0;
  await sleep(1_000);
  const rssBeforeBody = (await mem.mark('before the large body')).rssMb;
  await loopDelayMaxMs(o.adminPort); // resets the window
  let probing = true;
  const during: number[] = [];
  const prober = (async () => {
    while (probing) during.push(await probeOnce());
  })();
  const tb = performance.now();
  const status = await post(o.port, head(large.length), large);
  const bodyMs = performance.now() - tb;
  probing = false;
  await prober;
  const loopMaxMs = await loopDelayMaxMs(o.adminPort);
  const rssPeakBody = (await mem.mark('right after the large body')).rssMb;
  await sleep(3_000);
  const rssAfterBody = (await mem.mark('3 s after the large body')).rssMb;
  const keys: string[] = [];
  for (let i = 0; i < 250_000; i++) keys.push(`"k${i}":1`);
  const wide = `{"model":"chaos-big","messages":[{"role":"user","content":"x"}],"metadata":{${keys.join(',')}}}`;
  const wideStatus = await post(o.port, head(wide), Buffer.from(wide));
  const deep = `{"model":"chaos-big","messages":[{"role":"user","content":"x","x":${'['.repeat(5_000)}${']'.repeat(5_000)}}]}`;
  const deepStatus = await post(o.port, head(deep), Buffer.from(deep));
  agent.destroy();
  await sleep(7_000);
  await mem.mark('10 s after the large bodies');
  const idleMax = Math.max(...idle);
  const duringMax = during.length === 0 ? 0 : Math.max(...during);
  lines.push(
    `large body: ${(large.length / 1048576).toFixed(1)} MB of ${o.largeBodyWords} distinct words → HTTP ${status} in ${bodyMs.toFixed(0)} ms`,
    `  concurrent GET /v1/models: ${during.length} answered meanwhile, slowest ${duringMax.toFixed(1)} ms (idle: slowest ${idleMax.toFixed(1)} ms of 20)`,
    `  gateway event-loop delay meanwhile: max ${loopMaxMs.toFixed(1)} ms`,
    `  gateway RSS ${rssBeforeBody.toFixed(1)} → ${rssPeakBody.toFixed(1)} MB after the body → ${rssAfterBody.toFixed(1)} MB 3 s later`,
    `250,000-key object → HTTP ${wideStatus}; 5,000 levels of nesting → HTTP ${deepStatus}`,
    ...mem.lines(),
  );
  json['memory'] = mem.json();
  checks['largeBodyAnswered'] = status === 200;
  checks['tooManyJsonValuesRefused413'] = wideStatus === 413;
  checks['deepNestingRefused400'] = deepStatus === 400;
  json['largeBody'] = { mb: large.length / 1048576, words: o.largeBodyWords, status, bodyMs, probesDuring: during.length, probeMaxMs: duringMax, idleProbeMaxMs: idleMax, eventLoopDelayMaxMs: loopMaxMs, rssBefore: rssBeforeBody, rssPeak: rssPeakBody, rssAfter: rssAfterBody, wideStatus, deepStatus };
  return { lines, checks, json };
}

function get(agent: http.Agent, port: number, key: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/models', agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}

/** Sends a head and body on a fresh connection; resolves with the status of the gateway's answer. */
function post(port: number, head: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(head);
      s.write(body);
    });
    const done = (): void => {
      s.destroy();
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0));
    };
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      // The head and the start of the body are all this needs.
      if (got.includes('\r\n\r\n')) done();
    });
    s.on('error', () => undefined);
    s.on('close', done);
    setTimeout(done, 60_000).unref();
  });
}

/** The gateway's largest event-loop delay since the previous scrape (prom-client's default metrics), in ms. */
async function loopDelayMaxMs(adminPort: number): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const m = /^tollgate_process_nodejs_eventloop_lag_max_seconds\s+(\S+)/m.exec(text);
    return m === null ? 0 : Number(m[1]) * 1000;
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
