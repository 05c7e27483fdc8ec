// Virtual keys on every route family, not only chat: the stored Responses endpoints (the official
// OpenAI SDK) and MCPRoutes (the official MCP TypeScript SDK client), on one real gateway process.
// A key authenticates by the same check everywhere: its workload is the caller, a bad key is a 401
// with the reason, and a stored response is readable only by the workload that created it.
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { exportJWK, generateKeyPair } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { eventually } from '../helpers/gateway.js';
import { mcpBackendYaml, startMcpServer, type TestMcpServer } from '../helpers/mcp-servers.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { api, chatWith, createKey, serve, workspace, type Served } from './helpers.js';

let up: Upstream;
let tools: TestMcpServer;
let dir: string;
let gw: Served;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 5 }));
  tools = await startMcpServer({
    name: 'math',
    build: (s) => {
      s.registerTool('sum', { description: 'adds', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
    },
  });
  dir = await workspace([up.port]);
  // Two MCPRoutes: one open, one whose own authentication is OAuth (a virtual key passes it too).
  const jwk = { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const mcp = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: tools, namespace: default}
spec:
  path: /mcp
  backendRefs:
    - {name: math, path: /mcp}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: MCPRoute
metadata: {name: secure-tools, namespace: default}
spec:
  path: /mcp-secure
  backendRefs:
    - {name: math, path: /mcp}
  securityPolicy:
    oauth:
      issuer: https://auth.test
      jwks:
        localJWKS:
          inline: '${JSON.stringify({ keys: [jwk] })}'
      protectedResourceMetadata:
        resource: http://mcp.test/mcp-secure
---
${mcpBackendYaml('math', tools.port)}---
apiVersion: v1
kind: Secret
metadata: {name: tollgate-mcp-session, namespace: default}
stringData: {sessionKey: "${randomBytes(32).toString('base64')}"}
`;
  await writeFile(join(dir, 'mcp.yaml'), mcp);
  gw = await serve(dir, ['--config', join(dir, 'mcp.yaml'), '--state-dir', join(dir, 'state'), '--concurrency', '1', '--access-log', join(dir, 'access.log')]);
}, 60_000);

afterAll(async () => {
  await gw.stop();
  await up.close();
  await tools.close();
  await rm(dir, { recursive: true, force: true });
});

function sdk(key: string): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
}

async function known(key: string): Promise<void> {
  await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
}

async function raw(path: string, key: string, method = 'GET'): Promise<{ status: number; text: string }> {
  const r = await fetch(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, text: await r.text() };
}

describe('stored Responses with virtual keys (official OpenAI SDK)', () => {
  it('lets only the workload that stored a response read, list or delete it', async () => {
    const owner = await createKey(gw.admin, { name: 'resp-owner', workload: 'ci' });
    const sibling = await createKey(gw.admin, { name: 'resp-sibling', workload: 'ci' });
    const stranger = await createKey(gw.admin, { name: 'resp-stranger', workload: 'other-app' });
    for (const k of [owner, sibling, stranger]) await known(k.key);

    const created = await sdk(owner.key).responses.create({ model: 'm', input: 'Hello there', max_output_tokens: 5 });
    expect(created.id).toMatch(/^resp_/);
    // The request was authenticated by the key: its workload, not the key, reached the backend.
    const sent = up.requests[up.requests.length - 1];
    expect(sent?.headers['x-workload-app']).toBe('ci');
    expect(JSON.stringify(sent?.headers)).not.toContain(owner.key);

    expect((await sdk(owner.key).responses.retrieve(created.id)).id).toBe(created.id);
    // Another key of the same workload (what a rotation or a second agent replica holds) reads it too.
    expect((await sdk(sibling.key).responses.retrieve(created.id)).id).toBe(created.id);
    const items = await sdk(owner.key).responses.inputItems.list(created.id);
    expect(items.data.length).toBeGreaterThan(0);
    // A continuation by the owner works; by another workload it is as if the response did not exist.
    const next = await sdk(owner.key).responses.create({ model: 'm', input: 'And again', previous_response_id: created.id, max_output_tokens: 5 });
    expect(next.id).not.toBe(created.id);

    await expect(sdk(stranger.key).responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(sdk(stranger.key).responses.inputItems.list(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(sdk(stranger.key).responses.delete(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(sdk(stranger.key).responses.cancel(created.id)).rejects.toMatchObject({ status: 404 });
    // The owner learns why a finished (foreground) response cannot be cancelled.
    await expect(sdk(owner.key).responses.cancel(created.id)).rejects.toMatchObject({ status: 400, message: expect.stringContaining('only background responses') as unknown });
    await expect(sdk(stranger.key).responses.create({ model: 'm', input: 'x', previous_response_id: created.id })).rejects.toMatchObject({ status: 404 });
    // Without the key's identity (no credential at all) it is not readable either.
    expect((await fetch(`${gw.url}/v1/responses/${created.id}`)).status).toBe(404);

    await sdk(owner.key).responses.delete(created.id);
    await expect(sdk(owner.key).responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a bad key on the stored-response endpoints with the reason, the same way chat does', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'resp-revoked', workload: 'ci' });
    await known(key);
    const created = await sdk(key).responses.create({ model: 'm', input: 'Hello', max_output_tokens: 5 });

    const wrongSecret = await raw(`/v1/responses/${created.id}`, `tg-${id}.${'A'.repeat(43)}`);
    const unknown = await raw(`/v1/responses/${created.id}`, `tg-${'a'.repeat(12)}.${'A'.repeat(43)}`);
    expect(wrongSecret.status).toBe(401);
    // Byte for byte: a guess with the right id learns nothing.
    expect(wrongSecret.text).toBe(unknown.text);
    expect(wrongSecret.text).toBe((await chatWith(gw.url, `tg-${'a'.repeat(12)}.${'A'.repeat(43)}`)).text);
    const malformed = await raw(`/v1/responses/${created.id}/input_items`, 'tg-not-a-key');
    expect(malformed.status).toBe(401);
    expect(malformed.text).toContain('not a well-formed');

    expect((await api(gw.admin, 'POST', `/admin/keys/${id}/revoke`)).status).toBe(200);
    await eventually(async () => (await raw(`/v1/responses/${created.id}`, key)).status === 401, 'the revoked key to be refused');
    const revoked = await raw(`/v1/responses/${created.id}`, key, 'DELETE');
    expect(revoked.status).toBe(401);
    expect(revoked.text).toContain('revoked');
    await expect(sdk(key).responses.retrieve(created.id)).rejects.toMatchObject({ status: 401 });
    await expect(sdk(key).responses.cancel(created.id)).rejects.toMatchObject({ status: 401 });
  });
});

describe('virtual keys where other SDKs put their key', () => {
  it('authenticates the Gemini SDK (x-goog-api-key) and the Anthropic SDK (x-api-key) by the key', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'sdk-agent', workload: 'omniact-ui' });
    await known(key);
    const gemini = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: gw.url } });
    const g = await gemini.models.generateContent({ model: 'm', contents: 'Hello', config: { maxOutputTokens: 5 } });
    expect(g.text?.length).toBeGreaterThan(0);
    let sent = up.requests[up.requests.length - 1];
    expect(sent?.headers['x-workload-app']).toBe('omniact-ui');
    expect(JSON.stringify(sent?.headers)).not.toContain(key);
    const anthropic = new Anthropic({ apiKey: key, baseURL: gw.url, maxRetries: 0 });
    const a = await anthropic.messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'Hello' }] });
    expect(a.content.length).toBeGreaterThan(0);
    sent = up.requests[up.requests.length - 1];
    expect(sent?.headers['x-workload-app']).toBe('omniact-ui');
    expect(JSON.stringify(sent?.headers)).not.toContain(key);

    expect((await api(gw.admin, 'POST', `/admin/keys/${id}/revoke`)).status).toBe(200);
    await eventually(async () => (await chatWith(gw.url, key)).status === 401, 'the revoked key to be refused');
    await expect(gemini.models.generateContent({ model: 'm', contents: 'Hello' })).rejects.toThrow(/revoked/);
    await expect(anthropic.messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'Hello' }] })).rejects.toMatchObject({ status: 401 });
  });
});

describe('MCPRoutes with virtual keys (official MCP SDK client)', () => {
  async function connect(path: string, key: string): Promise<Client> {
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    return client;
  }

  it('authenticates MCP calls by the key: its workload is the caller, the key never reaches the server', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'mcp-agent', workload: 'toolbench-agent' });
    await known(key);
    const seen = tools.seenAuth.length;
    for (const path of ['/mcp', '/mcp-secure']) {
      const client = await connect(path, key);
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['math__sum']);
      const r = (await client.callTool({ name: 'math__sum', arguments: { a: 2, b: 3 } })) as { content: Array<{ text?: string }> };
      expect(r.content[0]?.text).toBe('5');
      await client.close();
    }
    expect(tools.seenAuth.length).toBeGreaterThan(seen);
    expect(tools.seenAuth.slice(seen).every((a) => !a.includes(key))).toBe(true);
    // The tool call's log line names the key's workload as the caller, and the key by its id only.
    await eventually(async () => (await readFile(join(dir, 'access.log'), 'utf8').catch(() => '')).includes(`"api_key":"${id}"`), 'the tool call in the access log');
    const line = (await readFile(join(dir, 'access.log'), 'utf8')).split('\n').find((l) => l.includes('"mcp_tool_call"') && l.includes(id)) ?? '';
    expect(line).toContain('"caller":"workload:toolbench-agent"');
    expect(line).not.toContain(key);
  });

  it('refuses a bad key on an MCPRoute with a 401 and the reason, identical for unknown and wrong secret', async () => {
    const { id, key } = await createKey(gw.admin, { name: 'mcp-revoked', workload: 'ci' });
    await known(key);
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    const post = async (path: string, k: string): Promise<{ status: number; text: string }> => {
      const r = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${k}` }, body: JSON.stringify(init) });
      return { status: r.status, text: await r.text() };
    };
    for (const path of ['/mcp', '/mcp-secure']) {
      const wrongSecret = await post(path, `tg-${id}.${'A'.repeat(43)}`);
      const unknown = await post(path, `tg-${'a'.repeat(12)}.${'A'.repeat(43)}`);
      expect(wrongSecret.status).toBe(401);
      expect(wrongSecret.text).toBe(unknown.text);
      expect(wrongSecret.text).toContain('not valid');
      const malformed = await post(path, 'tg-not-a-key');
      expect(malformed.status).toBe(401);
      expect(malformed.text).toContain('not a well-formed');
    }
    const client = await connect('/mcp', key);
    expect((await api(gw.admin, 'POST', `/admin/keys/${id}/revoke`)).status).toBe(200);
    await eventually(async () => (await post('/mcp', key)).status === 401, 'the revoked key to be refused');
    expect((await post('/mcp-secure', key)).text).toContain('revoked');
    // A session opened before the revocation dies with the key.
    await expect(client.listTools()).rejects.toThrow(/401|revoked/);
    await client.close().catch(() => undefined);
  });
});
