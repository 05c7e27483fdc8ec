// Streams end to end: usage on request, none otherwise, a client that hangs up mid-stream (the
// backend must stop generating), and a config reload while a stream is in flight (the stream
// finishes on the old config, new requests see the new one).
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../core/clock.js';
import type { SseEvent } from '../../protocol/sse.js';
import { excerpt, type Probe } from '../check.js';
import type { VerifyContext } from '../context.js';
import type { SseStream, StreamEnd } from '../http.js';
import { sumOf } from '../prometheus.js';
import { METRICS, SEED } from '../scenario.js';
import type { Check } from './types.js';

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

interface StreamSummary {
  readonly text: string;
  readonly usage: Usage | undefined;
  readonly usageChunks: number;
  readonly model: string | undefined;
}

/** Checks the stream is a complete OpenAI chat stream and summarizes it. */
export async function readChatStream(t: Probe, stream: SseStream, what: string): Promise<StreamSummary> {
  const head = await stream.head;
  const type = String(head.headers['content-type'] ?? '');
  if (head.status !== 200 || !type.startsWith('text/event-stream')) {
    await stream.end.catch(() => undefined);
    t.fail(`${what}: not a stream`, { expected: '200 text/event-stream', actual: `${head.status} ${type} ${excerpt(stream.bodyText())}` });
  }
  const end: StreamEnd = await stream.end;
  if (!end.complete) t.fail(`${what}: the stream was cut before its end`, { expected: 'a complete response', actual: `${end.events.length} events, then the connection closed` });
  const data = end.events.filter((e) => e.hasData);
  const last = data[data.length - 1];
  if (last?.data !== '[DONE]') t.fail(`${what}: the stream does not end with "data: [DONE]"`, { actual: last === undefined ? 'no data events' : excerpt(last.data, 120) });
  if (end.trailing > 0) t.fail(`${what}: ${end.trailing} bytes after the last complete event (an unterminated event)`);
  let text = '';
  let usage: Usage | undefined;
  let usageChunks = 0;
  let model: string | undefined;
  for (const e of data.slice(0, -1)) {
    const chunk = parseChunk(t, e, what);
    model ??= chunk.model;
    for (const c of chunk.choices ?? []) text += c.delta?.content ?? '';
    if (chunk.usage !== undefined && chunk.usage !== null) {
      usageChunks++;
      usage = chunk.usage;
    }
  }
  t.note(`${what}: 200 text/event-stream, ${data.length} data events ending in [DONE], ${text.length} characters of content`);
  return { text, usage, usageChunks, model };
}

interface Chunk {
  object?: string;
  model?: string;
  choices?: Array<{ delta?: { content?: string | null } }>;
  usage?: Usage | null;
}

function parseChunk(t: Probe, e: SseEvent, what: string): Chunk {
  let v: unknown;
  try {
    v = JSON.parse(e.data);
  } catch {
    return t.fail(`${what}: an event is not JSON`, { actual: excerpt(e.data, 160) });
  }
  const c = v as Chunk;
  if (c.object !== 'chat.completion.chunk') t.fail(`${what}: an event is not a chat.completion.chunk`, { actual: excerpt(e.data, 160) });
  return c;
}

export const streamingUsageCheck: Check = {
  id: 'streaming-usage',
  suite: 'full',
  title: 'Streamed responses end to end, with usage when asked for and without when not',
  source: 'README.md, tollgate serve: streaming',
  async run(ctx: VerifyContext, t: Probe) {
    const maxTokens = 12;
    const { stream } = ctx.stream('stream with usage', { app: SEED.standardApp, body: { max_tokens: maxTokens, stream_options: { include_usage: true } } });
    const s = await readChatStream(t, stream, 'stream with include_usage');
    t.ok(s.text.length > 0, 'the stream carried content', { message: 'the stream carried no content' });
    t.equal(String(s.model), SEED.tiers.tier2.model, 'streamed model');
    t.equal(s.usageChunks, 1, 'chunks carrying usage');
    const u = s.usage;
    if (u === undefined) return;
    t.ok(
      u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= maxTokens && u.total_tokens === u.prompt_tokens + u.completion_tokens,
      `usage: prompt ${u.prompt_tokens}, completion ${u.completion_tokens} (max_tokens ${maxTokens}), total ${u.total_tokens}`,
      { message: 'the usage chunk is not consistent', expected: `prompt > 0, 0 < completion ≤ ${maxTokens}, total = prompt + completion`, actual: JSON.stringify(u) },
    );

    const plain = ctx.stream('stream without usage', { app: SEED.standardApp, body: { max_tokens: maxTokens } });
    const p = await readChatStream(t, plain.stream, 'stream without stream_options');
    t.equal(p.usageChunks, 0, 'chunks carrying usage when the client did not ask for it');
  },
};

async function runningOn(ctx: VerifyContext, t: Probe): Promise<number> {
  const v = sumOf(await ctx.backendMetrics(t, 'tier2'), METRICS.backendRunning);
  if (v === undefined) {
    t.fail(`the tier-2 backend at ${ctx.opts.backends.tier2} does not export ${METRICS.backendRunning}`, {
      hint: 'verify reads the backend\'s vLLM gauge to prove a cancelled stream stopped upstream (tollgate sim and vLLM export it)',
    });
  }
  return v;
}

export const clientDisconnectCheck: Check = {
  id: 'client-disconnect',
  suite: 'full',
  title: 'A client that hangs up mid-stream: the backend stops generating, the gateway keeps serving',
  source: 'README.md, tollgate serve: streaming',
  async run(ctx: VerifyContext, t: Probe) {
    const idle = await runningOn(ctx, t);
    if (idle !== 0) t.fail(`the tier-2 backend is busy before the check (${idle} running); verify needs the gateway to itself`);
    const { stream } = ctx.stream('stream cut by the client', { app: SEED.standardApp, body: { max_tokens: 2000 } });
    const head = await stream.head;
    if (head.status !== 200) {
      await stream.end.catch(() => undefined);
      t.fail('the long stream did not start', { expected: '200', actual: `${head.status} ${excerpt(stream.bodyText())}` });
    }
    await stream.waitForEvents(3);
    const running = await runningOn(ctx, t);
    t.ok(running >= 1, `the backend is generating (${METRICS.backendRunning} = ${running})`, { message: 'the backend shows no running request during the stream' });
    stream.abort();
    await stream.end;
    t.note(`the client closed the connection after ${stream.events.length} events`);
    let now = running;
    const end = Date.now() + 5_000;
    while (now > 0 && Date.now() < end) {
      await sleep(100);
      now = await runningOn(ctx, t);
    }
    if (now > 0) {
      t.fail('the backend kept generating after the client hung up', {
        expected: `${METRICS.backendRunning} back to 0 within 5 s`,
        actual: `${now} still running`,
        hint: 'the gateway must cancel the upstream request when the downstream client disconnects, or GPUs serve nobody',
      });
    }
    t.note(`${METRICS.backendRunning} back to 0: the gateway cancelled the upstream request`);
    const after = await ctx.chat('request after a client disconnect', { app: SEED.standardApp });
    t.status(after, 200, 'the next request on the same route');
  },
};

function reloadManifest(name: string, app: string): string {
  return `# Written by \`tollgate verify\` (reload-while-streaming) and removed by it; safe to delete.
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: ${name}
  namespace: default
spec:
  rules:
    - matches:
        - headers:
            - type: Exact
              name: x-workload-app
              value: ${app}
      backendRefs:
        - name: ${SEED.tiers.tier1.backend}
`;
}

async function writeAtomically(dir: string, file: string, text: string): Promise<void> {
  // Dot-files are not config; the rename makes the manifest appear whole.
  const tmp = join(dir, `.${file}.${randomBytes(3).toString('hex')}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, file));
}

async function waitGeneration(ctx: VerifyContext, t: Probe, after: number, what: string): Promise<{ generation: number; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const g = await ctx.configGeneration(t);
    if (g !== after) return { generation: g, ms: Date.now() - t0 };
    if (Date.now() - t0 > 10_000) {
      t.fail(`${what}: the config generation did not change within 10 s`, {
        expected: `/config_dump generation ≠ ${after}`,
        actual: `still ${g}`,
        hint: `is ${ctx.opts.configDir ?? '--config'} the directory the gateway watches? (its logs say why a change was rejected)`,
      });
    }
    await sleep(25);
  }
}

export const reloadWhileStreamingCheck: Check = {
  id: 'reload-while-streaming',
  suite: 'full',
  title: 'A config reload while a stream is in flight: the stream completes, new requests see the new config',
  source: 'docs/configuration.md, hot reload',
  needsConfigDir: true,
  async run(ctx: VerifyContext, t: Probe) {
    const dir = ctx.opts.configDir;
    if (dir === undefined) return t.fail('no --config DIR given');
    const app = `tollgate-verify-${ctx.runId}`;
    const file = `zz-tollgate-verify-${ctx.runId}.yaml`;
    const ask = (what: string): ReturnType<VerifyContext['chat']> => ctx.chat(what, { app, body: { model: SEED.tiers.tier1.model } });

    const before = await ask('reload: the new identity before the reload');
    t.status(before, 404, `${app} before the reload`);
    const gen0 = await ctx.configGeneration(t);
    const { stream } = ctx.stream('stream across a reload', { app: SEED.standardApp, body: { max_tokens: 150, stream_options: { include_usage: true } } });
    let written = false;
    let current = gen0;
    try {
      await stream.waitForEvents(2);
      await writeAtomically(dir, file, reloadManifest(app, app));
      written = true;
      const applied = await waitGeneration(ctx, t, gen0, 'adding a route');
      current = applied.generation;
      t.ok(!stream.done, `generation ${gen0} → ${applied.generation} ${applied.ms} ms after the write, while the stream was in flight (${stream.events.length} events so far)`, {
        message: 'inconclusive: the stream ended before the new config applied',
        actual: `the reload took ${applied.ms} ms`,
      });
      const during = await ask('reload: the new identity after the reload');
      t.status(during, 200, `${app} after the reload (the new route serves)`);
      const s = await readChatStream(t, stream, 'the stream that spanned the reload');
      t.ok(s.usage !== undefined && s.usage.completion_tokens > 0, `it finished with usage (${s.usage?.completion_tokens ?? 0} completion tokens)`, {
        message: 'the stream that spanned the reload ended without its usage chunk',
      });
    } finally {
      if (written) await rm(join(dir, file), { force: true });
      if (!stream.done) stream.abort();
    }
    const removed = await waitGeneration(ctx, t, current, 'removing the route again');
    t.note(`route removed: generation ${current} → ${removed.generation}`);
    const gone = await ask('reload: the new identity after removal');
    t.status(gone, 404, `${app} after its route was removed`);
  },
};

export const STREAMING_CHECKS: readonly Check[] = [streamingUsageCheck, clientDisconnectCheck, reloadWhileStreamingCheck];
