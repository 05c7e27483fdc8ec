// A real HTTP upstream for gateway tests that records exactly what it received (headers as they
// arrived on the wire, body bytes) and answers like an OpenAI-compatible server, or however a test
// tells it to (errors, silence, resets, slow streams).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: string;
  readonly json: Record<string, unknown> | undefined;
}

export type Behavior = (req: IncomingMessage, rec: Recorded, res: ServerResponse, socket: Socket) => void;

export interface Upstream {
  readonly url: string;
  readonly port: number;
  readonly requests: Recorded[];
  readonly sockets: Set<Socket>;
  behave(b: Behavior): void;
  /** Resolves when the next socket closes. */
  nextSocketClose(): Promise<void>;
  close(): Promise<void>;
}

export async function startUpstream(behavior: Behavior = openAIBehavior()): Promise<Upstream> {
  const requests: Recorded[] = [];
  const sockets = new Set<Socket>();
  let current = behavior;
  const closeWaiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body, json };
      requests.push(rec);
      current(req, rec, res, req.socket);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      for (const w of closeWaiters.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    sockets,
    behave: (b) => {
      current = b;
    },
    nextSocketClose: () => new Promise((r) => closeWaiters.push(r)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface OpenAIBehaviorOptions {
  /** Content chunks in a streamed answer. */
  chunks?: number;
  /** Delay between streamed chunks, ms. */
  chunkDelayMs?: number;
  /** Model reported in responses (default: the request's). */
  model?: string;
  status?: number;
}

/** Answers chat/completions/embeddings like an OpenAI-compatible server, with exact usage. */
export function openAIBehavior(opts: OpenAIBehaviorOptions = {}): Behavior {
  return (req, rec, res) => {
    const body = rec.json ?? {};
    const model = opts.model ?? (typeof body['model'] === 'string' ? body['model'] : 'unknown');
    const n = opts.chunks ?? 5;
    const words = Array.from({ length: n }, (_, i) => `w${i} `);
    const usage = { prompt_tokens: 11, completion_tokens: n, total_tokens: 11 + n, prompt_tokens_details: { cached_tokens: 3 } };
    if (rec.url.endsWith('/embeddings')) {
      json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model, usage: { prompt_tokens: 4, total_tokens: 4 } });
      return;
    }
    if (body['stream'] !== true) {
      json(res, opts.status ?? 200, {
        id: 'chatcmpl-test',
        object: 'chat.completion',
        created: 1,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
        usage,
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const includeUsage = (body['stream_options'] as { include_usage?: boolean } | undefined)?.include_usage === true;
    const frames: string[] = [];
    frames.push(chunk(model, { role: 'assistant', content: '' }, null));
    for (const w of words) frames.push(chunk(model, { content: w }, null));
    frames.push(chunk(model, {}, 'stop'));
    if (includeUsage) frames.push(`data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1, model, choices: [], usage })}\n\n`);
    frames.push('data: [DONE]\n\n');
    let i = 0;
    const delay = opts.chunkDelayMs ?? 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (i >= frames.length) {
        res.end();
        return;
      }
      res.write(frames[i++]);
      if (delay > 0) setTimeout(next, delay);
      else next();
    };
    next();
    void req;
  };
}

function chunk(model: string, delta: Record<string, unknown>, finish: string | null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
