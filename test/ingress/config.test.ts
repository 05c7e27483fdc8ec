// The `tollgate.io/responses-api` annotation: native passthrough only where a schema has the
// Responses API, and a clear error naming the fix otherwise.
import { describe, expect, it } from 'vitest';
import { backend, docs, errors, find, loadText, route } from '../config/helpers.js';

function annotated(value: string, schema = 'OpenAI'): string {
  return backend('be')
    .replace('  namespace: default\nspec:\n  schema:\n    name: OpenAI', `  namespace: default\n  annotations:\n    tollgate.io/responses-api: ${value}\nspec:\n  schema:\n    name: ${schema}`);
}

describe('tollgate.io/responses-api', () => {
  it('native and translate compile', async () => {
    for (const v of ['native', 'translate']) {
      const r = await loadText(docs(annotated(v), route('r', { model: 'm' })));
      expect(errors(r)).toEqual([]);
      expect(r.config?.backends.get('default/be')?.nativeResponses).toBe(v === 'native');
    }
  });

  it('refuses an unknown mode and native on a schema without the Responses API', async () => {
    const unknown = await loadText(docs(annotated('passthrough'), route('r', { model: 'm' })));
    expect(find(unknown, /unknown mode "passthrough"/).hint).toMatch(/native.*translate/);
    const anthropic = await loadText(docs(annotated('native', 'Anthropic'), route('r', { model: 'm' })));
    expect(find(anthropic, /schema Anthropic has no native Responses API/).hint).toMatch(/remove the annotation/);
  });
});
