// `serve` flags for the Responses conversation store: how long responses are kept and how much
// memory the embedded store may hold. Parsed (and refused with a usage error) before anything starts.
import { UsageError } from '../../cli/args.js';
import { parseByteQuantity, parseDuration } from '../../config/units.js';
import { RESPONSE_STORE_DEFAULTS, type ResponseStoreSettings } from './store.js';

export const RESPONSES_FLAGS = {
  'responses-ttl': { type: 'string' },
  'responses-memory': { type: 'string' },
} as const;

export const RESPONSES_USAGE = `  --responses-ttl DURATION
                         how long a stored Responses API response can be read or continued with
                         previous_response_id (default 24h, from 1s to 720h; env TOLLGATE_RESPONSES_TTL)
  --responses-memory BYTES
                         memory for stored responses without --redis, oldest dropped first
                         (default 64Mi, from 1Mi to 64Gi; env TOLLGATE_RESPONSES_MEMORY)`;

const MIN_TTL_MS = 1_000;
const MAX_TTL_MS = 720 * 3600_000;
const MIN_MEMORY = 1024 * 1024;
const MAX_MEMORY = 64 * 1024 ** 3;

export function responseStoreFlags(
  values: { 'responses-ttl'?: string | undefined; 'responses-memory'?: string | undefined },
  env: NodeJS.ProcessEnv,
): ResponseStoreSettings {
  const ttl = values['responses-ttl'] ?? env['TOLLGATE_RESPONSES_TTL'];
  const memory = values['responses-memory'] ?? env['TOLLGATE_RESPONSES_MEMORY'];
  return {
    ttlMs: ttl === undefined ? RESPONSE_STORE_DEFAULTS.ttlMs : ttlOf(ttl),
    memoryBytes: memory === undefined ? RESPONSE_STORE_DEFAULTS.memoryBytes : memoryOf(memory),
  };
}

function ttlOf(text: string): number {
  const p = parseDuration(text);
  if (!p.ok) throw new UsageError(`--responses-ttl: ${p.message}`, 'for example --responses-ttl 24h or --responses-ttl 30m');
  if (p.value < MIN_TTL_MS || p.value > MAX_TTL_MS) throw new UsageError(`--responses-ttl: "${text}" is outside 1s to 720h`, 'for example --responses-ttl 24h');
  return p.value;
}

function memoryOf(text: string): number {
  const p = parseByteQuantity(text);
  if (!p.ok) throw new UsageError(`--responses-memory: ${p.message}`, 'for example --responses-memory 64Mi or --responses-memory 1Gi');
  if (p.value < MIN_MEMORY || p.value > MAX_MEMORY) throw new UsageError(`--responses-memory: "${text}" is outside 1Mi to 64Gi`, 'for example --responses-memory 256Mi');
  return p.value;
}
