// The simulator's one use of the yaml library: reading profile files and go-vcr cassettes, writing
// recorded cassettes. (The gateway's config/ folder is yaml's home for manifests; the sim is toolkit
// code that must not import gateway internals, so it keeps this single, narrow door of its own.)
import { parse, stringify } from 'yaml';
import { ProfileError } from './profile.js';

export function parseYamlOrJson(text: string, where: string): unknown {
  try {
    if (where.toLowerCase().endsWith('.json')) return JSON.parse(text) as unknown;
    return parse(text, { prettyErrors: true }) as unknown;
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ProfileError(`${where}: not valid ${where.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML'}: ${msg}`);
  }
}

export function parseYaml(text: string): unknown {
  return parse(text, { maxAliasCount: 100 }) as unknown;
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}
