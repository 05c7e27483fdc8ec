// A deliberately fast OpenAI-compatible upstream for the overhead benchmark: answers instantly, so
// what the benchmark measures is the proxy. Run as its own process: `node fast-upstream.js PORT`.
// Streamed answers are 20 SSE chunks written on separate event-loop turns, so a proxy sees them as
// separate reads, as it would from a real server generating tokens. With a third argument
// `slow:SECONDS`, streams send one chunk a second for that many seconds instead (the slow-streams
// benchmark: many long-lived streams held open at once).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const CHUNKS = 20;

const json = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1,
    model: 'bench-model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'The quick brown fox jumps over the lazy dog.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 10, total_tokens: 22 },
  }),
);

function sseChunk(i: number): Buffer {
  return Buffer.from(
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [{ index: 0, delta: { content: `tok${i} ` }, finish_reason: null }] })}\n\n`,
  );
}
const chunks = Array.from({ length: CHUNKS }, (_, i) => sseChunk(i));
const usageChunk = Buffer.from(
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 12, completion_tokens: CHUNKS, total_tokens: 12 + CHUNKS } })}\n\n`,
);
const done = Buffer.from('data: [DONE]\n\n');

/** What the upstream answers, for benches that measure the work per answer without a socket. */
export const BENCH_ANSWER = { json, stream: [...chunks, done] } as const;

export function startFastUpstream(port: number, host = '127.0.0.1', slowSeconds = 0): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const text = Buffer.concat(body).toString();
      if (!text.includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
        res.end(json);
        return;
      }
      const withUsage = text.includes('"include_usage":true');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      if (slowSeconds > 0) {
        const timer = setInterval(() => {
          if (res.destroyed || i >= slowSeconds) {
            clearInterval(timer);
            if (withUsage && !res.destroyed) res.write(usageChunk);
            res.end(done);
            return;
          }
          res.write(chunks[i++ % CHUNKS]);
        }, 1000);
        res.write(chunks[i++ % CHUNKS]);
        return;
      }
      const next = (): void => {
        if (res.destroyed) return;
        if (i < CHUNKS) {
          res.write(chunks[i++]);
          setImmediate(next);
          return;
        }
        if (withUsage) res.write(usageChunk);
        res.end(done);
      };
      next();
    });
  });
  server.keepAliveTimeout = 60_000;
  // A deep accept queue (Node's default is 511): the upstream shares a core with the proxy under
  // test, and its own pauses must not drop the proxy's new connections.
  return new Promise((resolve) => server.listen({ port, host, backlog: 4096 }, () => resolve(server)));
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  const port = Number(process.argv[2] ?? '0');
  const slow = /^slow:(\d+)$/.exec(process.argv[3] ?? '');
  void startFastUpstream(port, '127.0.0.1', slow === null ? 0 : Number(slow[1])).then((s) => {
    process.stdout.write(`ready ${(s.address() as AddressInfo).port}\n`);
  });
}
