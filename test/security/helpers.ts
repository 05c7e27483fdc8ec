// Security test fixtures: SecurityPolicy manifests as users write them, a real JWKS server over HTTP
// with real signing keys (jose), and small request helpers.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256' | 'EdDSA' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

export async function token(key: SigningKey, claims: JWTPayload, opts: { expiresIn?: string | number; notBefore?: string | number; alg?: string; kid?: string } = {}): Promise<string> {
  let t = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? key.alg, kid: opts.kid ?? key.kid, typ: 'JWT' }).setIssuedAt();
  t = t.setExpirationTime(opts.expiresIn ?? '10m');
  if (opts.notBefore !== undefined) t = t.setNotBefore(opts.notBefore);
  return t.sign(key.privateKey);
}

/** A JWKS endpoint whose key list a test can change; counts fetches. */
export interface JwksServer {
  readonly url: string;
  fetches: number;
  keys: JWK[];
  /** When set, the server answers this status instead of the keys. */
  failWith: number | undefined;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { fetches: 0, keys, failWith: undefined as number | undefined };
  const server = http.createServer((req, res) => {
    state.fetches++;
    if (state.failWith !== undefined) {
      res.writeHead(state.failWith).end();
      return;
    }
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const out = {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    set fetches(v: number) {
      state.fetches = v;
    },
    get keys() {
      return state.keys;
    },
    set keys(v: JWK[]) {
      state.keys = v;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(v: number | undefined) {
      state.failWith = v;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return out;
}

export function securityPolicyYaml(name: string, spec: string, opts: { target?: string; annotations?: Record<string, string> } = {}): string {
  const target = opts.target === undefined ? '    - group: gateway.networking.k8s.io\n      kind: Gateway\n      name: gw' : `    - group: gateway.networking.k8s.io\n      kind: HTTPRoute\n      name: ${opts.target}`;
  const ann =
    opts.annotations === undefined
      ? ''
      : `  annotations:\n${Object.entries(opts.annotations)
          .map(([k, v]) => `    ${k}: "${v}"`)
          .join('\n')}\n`;
  return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: ${name}
  namespace: default
${ann}spec:
  targetRefs:
${target}
${spec}`;
}

export function secretYaml(name: string, data: Record<string, string>): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: default
type: Opaque
stringData:
${Object.entries(data)
  .map(([k, v]) => `  ${k}: "${v}"`)
  .join('\n')}
`;
}

export interface ChatResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: { error?: { message: string; type: string; code: string } } & Record<string, unknown>;
}

export async function chat(url: string, model: string, headers: Record<string, string> = {}): Promise<ChatResult> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await r.text();
  let json: ChatResult['json'] = {};
  try {
    json = JSON.parse(text) as ChatResult['json'];
  } catch {
    json = {};
  }
  return { status: r.status, headers: r.headers, text, json };
}

export interface RawResponse {
  readonly status: number;
  readonly head: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends bytes exactly as given and reads until the server closes (or `timeoutMs`). */
export function rawHttp(url: string, request: string | Buffer, timeoutMs = 5_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const t = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(t);
      resolve(parseRaw(Buffer.concat(chunks).toString('latin1')));
    });
    sock.on('connect', () => sock.write(request));
    void reject;
  });
}

export function parseRaw(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: m === null ? 0 : Number(m[1]), head, headers, body: end === -1 ? '' : text.slice(end + 4) };
}
