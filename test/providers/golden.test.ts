// Golden exchanges written from the providers' public API references (fixtures/*.json, each naming
// its source): the OpenAI request a client sends, the native request the gateway must produce, the
// native response (JSON, SSE, AWS event-stream frames) the provider documents, and what the client
// must get back, including usage in every token category. The simulator's replay mode serves the
// native side, so each exchange runs through the real gateway; a request that does not translate
// exactly finds no fixture and fails with the first difference.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixtures, startNativeReplay } from '../../src/sim/providers/replay.js';
import type { ProviderSimServer } from '../../src/sim/providers/index.js';
import { eventually, startGateway } from '../helpers/gateway.js';
import { AWS_KEYS, backendYaml, policyYaml, routeYaml, secretYaml, serviceAccountJson } from './rig.js';

type Rec = Record<string, unknown>;
const DIR = join(import.meta.dirname, 'fixtures');

interface Golden {
  name: string;
  schema: string;
  openai_request: Rec;
  expected_stream?: unknown[];
  expected_json?: Rec;
  expected_usage: { input: number; cachedInput: number; cacheCreationInput: number; output: number; reasoning: number; total: number };
}

const GOLDEN: Golden[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Golden);

function credentials(schema: string, backend: string, replayUrl: string): string {
  switch (schema) {
    case 'GCPAnthropic':
    case 'GCPVertexAI':
      return (
        policyYaml(`${backend}-gcp`, backend, 'GCPCredentials', `  gcpCredentials:\n    projectName: proj-1\n    region: us-east5\n    credentialsFile:\n      secretRef:\n        name: ${backend}-sa\n`) +
        '---\n' +
        secretYaml(`${backend}-sa`, { 'service_account.json': serviceAccountJson(`${replayUrl}/token`) })
      );
    case 'AWSBedrock':
    case 'AWSAnthropic':
      return (
        policyYaml(`${backend}-aws`, backend, 'AWSCredentials', `  awsCredentials:\n    region: us-east-1\n    credentialsFile:\n      secretRef:\n        name: ${backend}-aws\n`) +
        '---\n' +
        secretYaml(`${backend}-aws`, { credentials: `[default]\naws_access_key_id = ${AWS_KEYS.accessKeyId}\naws_secret_access_key = ${AWS_KEYS.secretAccessKey}\n` })
      );
    case 'GeminiAPI':
      return policyYaml(`${backend}-key`, backend, 'APIKey', `  apiKey:\n    secretRef:\n      name: ${backend}-key\n`) + '---\n' + secretYaml(`${backend}-key`, { apiKey: 'AIza-golden' });
    default:
      return policyYaml(`${backend}-key`, backend, 'AnthropicAPIKey', `  anthropicAPIKey:\n    secretRef:\n      name: ${backend}-key\n`) + '---\n' + secretYaml(`${backend}-key`, { apiKey: 'sk-ant-golden' });
  }
}

/** One OpenAI chunk as a compact delta: what the golden files list. */
function compact(c: Rec): unknown[] {
  const choices = c['choices'] as Rec[];
  if (choices.length === 0) {
    const u = c['usage'] as Rec & { prompt_tokens_details?: Rec; completion_tokens_details?: Rec };
    return [
      {
        usage: {
          prompt_tokens: u['prompt_tokens'],
          completion_tokens: u['completion_tokens'],
          total_tokens: u['total_tokens'],
          cached_tokens: u.prompt_tokens_details?.['cached_tokens'],
          reasoning_tokens: u.completion_tokens_details?.['reasoning_tokens'],
        },
      },
    ];
  }
  const ch = choices[0] as Rec;
  const d = ch['delta'] as Rec;
  const out: unknown[] = [];
  if (d['role'] !== undefined) out.push({ role: d['role'] });
  if (typeof d['content'] === 'string' && d['content'] !== '') out.push({ content: d['content'] });
  if (typeof d['reasoning_content'] === 'string') out.push({ reasoning: d['reasoning_content'] });
  for (const t of (d['tool_calls'] as Rec[] | undefined) ?? []) {
    const fn = (t['function'] ?? {}) as Rec;
    out.push({ tool: t['index'], ...(t['id'] === undefined ? {} : { id: t['id'], name: fn['name'] }), args: fn['arguments'] });
  }
  if (ch['finish_reason'] !== null && ch['finish_reason'] !== undefined) out.push({ finish: ch['finish_reason'] });
  return out;
}

function normalizeJson(r: Rec): Rec {
  const { id: _id, created: _c, ...rest } = r;
  const text = JSON.stringify(rest).replace(/"id":"call_[A-Za-z0-9]+"/g, '"id":"<id>"');
  return JSON.parse(text) as Rec;
}

async function tokenSums(adminUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const sums: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('gen_ai_client_token_usage_token_sum{')) continue;
    const type = /gen_ai_token_type="([a-z_]+)"/.exec(line)?.[1] ?? '';
    sums[type] = (sums[type] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sums;
}

describe('golden exchanges, replayed through the gateway', () => {
  let replay: ProviderSimServer;
  beforeAll(async () => {
    replay = await startNativeReplay(await loadFixtures([DIR]));
  });
  afterAll(() => replay.close());

  it('has fixtures for every translated provider', () => {
    expect(new Set(GOLDEN.map((g) => g.schema))).toEqual(new Set(['Anthropic', 'GCPAnthropic', 'AWSAnthropic', 'GeminiAPI', 'GCPVertexAI', 'AWSBedrock']));
  });

  for (const g of GOLDEN) {
    it(`${g.name}: request, response and usage match the reference`, async () => {
      const model = g.openai_request['model'] as string;
      const gw = await startGateway({
        'b.yaml': backendYaml('golden', g.schema, replay.port),
        'p.yaml': credentials(g.schema, 'golden', replay.url),
        'r.yaml': routeYaml('golden', model, 'golden'),
      });
      try {
        const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(g.openai_request) });
        const text = await res.text();
        expect(res.status, text).toBe(200);
        if (g.expected_stream !== undefined) {
          expect(res.headers.get('content-type')).toBe('text/event-stream');
          const events: unknown[] = [];
          for (const block of text.split('\n\n')) {
            if (!block.startsWith('data: ')) continue;
            const data = block.slice(6);
            if (data === '[DONE]') events.push('[DONE]');
            else events.push(...compact(JSON.parse(data) as Rec));
          }
          expect(events).toEqual(g.expected_stream);
        } else {
          expect(normalizeJson(JSON.parse(text) as Rec)).toEqual(g.expected_json);
        }
        const want = g.expected_usage;
        await eventually(async () => {
          const s = await tokenSums(gw.adminUrl);
          return (s['input'] ?? 0) === want.input && (s['output'] ?? 0) === want.output && (s['cached_input'] ?? 0) === want.cachedInput && (s['cache_creation_input'] ?? 0) === want.cacheCreationInput && (s['reasoning'] ?? 0) === want.reasoning;
        }, `usage ${JSON.stringify(want)} in the metrics`);
      } finally {
        await gw.close();
      }
    });
  }
});
