// Errors on the native Gemini ingress come in Google's envelope, so @google/genai raises its ApiError
// with the HTTP status and a message holding `{"error":{"code","message","status"}}`: an unknown model
// (404), a rate limit (429) and a malformed request (400), each through a real gateway.
import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { btpYaml, headerSel } from '../helpers/limits.js';
import { backendYaml, credentialYaml, routeYaml, startSim } from '../providers/rig.js';

interface GoogleError {
  error: { code: number; message: string; status: string; details?: Array<{ reason?: string }> };
}

async function apiError(p: Promise<unknown>): Promise<{ status: number; body: GoogleError }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  const e = err as ApiError;
  return { status: e.status, body: JSON.parse(e.message) as GoogleError };
}

describe('@google/genai sees Google-shaped errors from the gateway', () => {
  let sim: Awaited<ReturnType<typeof startSim>>;
  let gw: TestGateway;
  let ai: GoogleGenAI;
  beforeAll(async () => {
    sim = await startSim('openai');
    gw = await startGateway({
      'backend.yaml': backendYaml('be', 'OpenAI', sim.port),
      'credentials.yaml': credentialYaml('openai', 'be', sim.url),
      'route.yaml': routeYaml('r', 'sim-model', 'be'),
      'limits.yaml': btpYaml('limits', 'r', 'Local', [{ selectors: headerSel('x-tenant', 'Exact', 'limited'), requests: 1, unit: 'Hour' }]),
    });
    ai = new GoogleGenAI({ apiKey: 'client-key', httpOptions: { baseUrl: gw.url } });
  });
  afterAll(async () => {
    await gw.close();
    await sim.close();
  });

  it('an unknown model is NOT_FOUND (404)', async () => {
    const { status, body } = await apiError(ai.models.generateContent({ model: 'no-such-model', contents: 'Hi' }));
    expect(status).toBe(404);
    expect(body.error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
    expect(body.error.message).toContain('No route matches model "no-such-model"');
    expect(body.error.details?.[0]?.reason).toBe('route_not_found');
  });

  it('a rate limit is RESOURCE_EXHAUSTED (429), the first request passing', async () => {
    const headers = { 'x-tenant': 'limited' };
    const ok = await ai.models.generateContent({ model: 'sim-model', contents: 'Hi', config: { httpOptions: { headers } } });
    expect(ok.text?.length ?? 0).toBeGreaterThan(0);
    const { status, body } = await apiError(ai.models.generateContent({ model: 'sim-model', contents: 'Hi', config: { httpOptions: { headers } } }));
    expect(status).toBe(429);
    expect(body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED' });
    expect(body.error.message.length).toBeGreaterThan(0);
    expect(body.error.details?.[0]?.reason).toBe('rate_limited');
  });

  it('a malformed request is INVALID_ARGUMENT (400) naming the field', async () => {
    const { status, body } = await apiError(ai.models.generateContent({ model: 'sim-model', contents: [{ role: 'assistant', parts: [{ text: 'Hi' }] }] }));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(body.error.message).toContain('"role" must be user or model');
  });

  it('the OpenAI door keeps OpenAI-shaped errors', async () => {
    const r = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'no-such-model', messages: [] }) });
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: { type: 'not_found_error', code: 'route_not_found' } });
  });
});
