// Every body `tollgate unroll` and `tollgate synth` emit is accepted by a strict OpenAI-compatible
// server: each one is sent, as its pre-serialized bytes and with its envelope's x-workload-app, through
// a real gateway to the simulator (whose request validation is as strict as vLLM's), and must come
// back 200 with a complete response. A body the validator would reject (the whitepaper's
// `role: function` trap, a tool message without its call) fails here with the server's own message.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES, startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { FORMAT_DEFAULTS, type UnrollFormat } from '../../src/workload/unroll/formats.js';
import { runUnroll } from '../../src/workload/unroll/run.js';
import { runSynth } from '../../src/workload/synth/run.js';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { FIXTURES, readAll, tempDir } from './helpers.js';

const MODEL = 'gpt-oss-120b';

let sim: SimServerHandle;
let gw: TestGateway;

beforeAll(async () => {
  const fast = BUILTIN_PROFILES['fast'];
  if (fast === undefined) throw new Error('the simulator has no "fast" profile');
  // Long coding contexts exceed the fast profile's 32k window; the point here is validation, not length.
  sim = await startSimServer({ profile: { ...fast, name: 'fast-long-context', maxModelLen: 131_072 }, model: MODEL });
  const port = Number(new URL(sim.url).port);
  gw = await startGateway({
    'backend.yaml': backendYaml('sim', [{ port }]),
    'route.yaml': routeYaml('all', [{ backends: [{ name: 'sim' }] }]),
  });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
});

interface Failure {
  readonly where: string;
  readonly status: number;
  readonly body: string;
}

/** Sends every request of a corpus through the gateway, 8 at a time; returns what did not come back whole. */
async function sendAll(dir: string): Promise<{ sent: number; failures: Failure[] }> {
  const queue: Array<{ where: string; app: string; body: Buffer; stream: boolean }> = [];
  for (const s of await readAll(dir)) {
    s.turns.forEach((t, k) => queue.push({ where: `${s.sid} turn ${k}`, app: s.app, body: t.body, stream: t.meta.stream }));
  }
  const failures: Failure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let item = queue[next++]; item !== undefined; item = queue[next++]) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-workload-app': item.app, 'x-sim-output-tokens': '2' },
        body: item.body,
      });
      const text = await res.text();
      const whole = item.stream ? text.trimEnd().endsWith('data: [DONE]') : text.includes('"choices"');
      if (res.status !== 200 || !whole) failures.push({ where: item.where, status: res.status, body: text.slice(0, 300) });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { sent: queue.length, failures };
}

const FORMATS: Array<{ format: UnrollFormat; input: string; functionRole?: 'user' | 'tool' }> = [
  { format: 'toolbench', input: 'toolbench.json' },
  { format: 'toolbench', input: 'toolbench.json', functionRole: 'tool' },
  { format: 'sharegpt', input: 'sharegpt.json' },
  { format: 'openai', input: 'openai.jsonl' },
  { format: 'atif', input: 'atif' },
  { format: 'swe-rebench', input: 'swe-rebench.jsonl' },
  { format: 'coderforge', input: 'coderforge.parquet' },
  { format: 'omniact', input: join('omniact', 'train.json') },
  { format: 'mooncake', input: 'mooncake.jsonl' },
];

describe('emitted bodies are accepted by the simulator through the gateway', () => {
  for (const { format, input, functionRole } of FORMATS) {
    for (const stream of [true, false]) {
      it(`tollgate unroll --format ${format}${functionRole === undefined ? '' : ` --function-role ${functionRole}`}, ${stream ? 'streamed' : 'non-streamed'}`, async () => {
        const d = FORMAT_DEFAULTS[format];
        const out = tempDir(`accept-${format}`);
        await runUnroll({
          format, inputs: [join(FIXTURES, input)], out, profile: d.profile, app: d.app, streamName: d.app, model: MODEL, layout: 'delta', stream,
          functionRole: functionRole ?? 'user', think: d.think, seed: 1, strict: false, replace: false, partBytes: 1 << 28, maxTokensField: 'max_tokens',
          exactLength: false, screenTokens: 300, blockTokens: 512, atifMsPerToken: 20,
        });
        const { sent, failures } = await sendAll(out);
        expect(sent).toBeGreaterThan(0);
        expect(failures).toEqual([]);
      });
    }
  }

  it('tollgate synth, all five profiles, both max-tokens fields', async () => {
    for (const maxTokensField of ['max_tokens', 'max_completion_tokens'] as const) {
      const out = tempDir('accept-synth');
      await runSynth({
        out, seed: 11, model: MODEL, layout: 'delta', stream: maxTokensField === 'max_tokens', thinkScale: 1, partBytes: 1 << 20, maxTokensField, exactLength: false, replace: false,
        selection: [{ name: 'toolbench', count: 6 }, { name: 'terminal-bench', count: 3 }, { name: 'omniact', count: 6 }, { name: 'swe-rebench', count: 3 }, { name: 'coderforge', count: 3 }],
      });
      const { sent, failures } = await sendAll(out);
      expect(sent).toBeGreaterThan(21);
      expect(failures).toEqual([]);
    }
  });
});
