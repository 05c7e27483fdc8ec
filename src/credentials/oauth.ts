// OAuth2 token endpoints the gateway calls in the background: Google's JWT-bearer grant for service
// accounts (RFC 7523, https://developers.google.com/identity/protocols/oauth2/service-account) and
// Microsoft Entra ID's client-credentials grant. These run off the request path, so they use the
// runtime's fetch rather than the data plane's pools. Error messages name what failed, never a secret.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { CredentialFetchError, RefreshingSource, type Fetched } from './refresh.js';

const FETCH_TIMEOUT_MS = 10_000;
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const VERTEX_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const AZURE_AUTHORITY = 'https://login.microsoftonline.com';
export const AZURE_OPENAI_SCOPE = 'https://cognitiveservices.azure.com/.default';

export interface ServiceAccount {
  readonly clientEmail: string;
  readonly privateKey: KeyObject;
  readonly privateKeyId: string | undefined;
  readonly tokenUri: string;
  readonly projectId: string | undefined;
}

/** Parses a service-account key file; the error says which field is wrong, never the key itself. */
export function parseServiceAccount(text: string): ServiceAccount | { error: string; hint: string } {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return { error: 'the service account key is not valid JSON', hint: 'use the JSON key file downloaded from IAM → Service accounts → Keys' };
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return { error: 'the service account key is not a JSON object', hint: 'use the JSON key file downloaded from IAM' };
  const o = j as Record<string, unknown>;
  if (o['type'] !== undefined && o['type'] !== 'service_account') {
    return { error: `credentials of type ${JSON.stringify(o['type'])} are not supported`, hint: 'GCPCredentials needs a service account key ("type": "service_account")' };
  }
  const missing = ['client_email', 'private_key'].filter((k) => typeof o[k] !== 'string' || (o[k]).length === 0);
  if (missing.length > 0) return { error: `the service account key has no ${missing.join(' or ')}`, hint: 'use the complete JSON key file downloaded from IAM → Service accounts → Keys' };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(o['private_key'] as string);
  } catch {
    return { error: 'the service account key\'s private_key is not a valid PEM private key', hint: 'copy the key file unchanged (keep the \\n line breaks inside private_key)' };
  }
  const tokenUri = typeof o['token_uri'] === 'string' && o['token_uri'].length > 0 ? o['token_uri'] : GOOGLE_TOKEN_URL;
  if (!/^https?:\/\//.test(tokenUri)) return { error: `token_uri ${JSON.stringify(tokenUri)} is not an http(s) URL`, hint: `the default is ${GOOGLE_TOKEN_URL}` };
  return {
    clientEmail: o['client_email'] as string,
    privateKey,
    privateKeyId: typeof o['private_key_id'] === 'string' ? o['private_key_id'] : undefined,
    tokenUri,
    projectId: typeof o['project_id'] === 'string' ? o['project_id'] : undefined,
  };
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The signed JWT assertion a service account exchanges for an access token. */
export function serviceAccountAssertion(sa: ServiceAccount, audience: string, scope: string, nowMs: number): string {
  const header = { alg: 'RS256', typ: 'JWT', ...(sa.privateKeyId === undefined ? {} : { kid: sa.privateKeyId }) };
  const iat = Math.floor(nowMs / 1000);
  const claims = { iss: sa.clientEmail, scope, aud: audience, iat, exp: iat + 3600 };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('RSA-SHA256', Buffer.from(input), sa.privateKey))}`;
}

export function gcpTokenSource(policy: string, sa: ServiceAccount, tokenUrl: string | undefined): RefreshingSource<string> {
  const url = tokenUrl ?? sa.tokenUri;
  return new RefreshingSource(policy, 'gcp', () =>
    postForm(url, {
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: serviceAccountAssertion(sa, url, VERTEX_SCOPE, Date.now()),
    }),
  );
}

export interface AzureClient {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

export function azureTokenSource(policy: string, c: AzureClient, tokenUrl: string | undefined): RefreshingSource<string> {
  const url = tokenUrl ?? `${AZURE_AUTHORITY}/${encodeURIComponent(c.tenantId)}/oauth2/v2.0/token`;
  return new RefreshingSource(policy, 'azure', () =>
    postForm(url, { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope: AZURE_OPENAI_SCOPE }),
  );
}

async function postForm(url: string, form: Record<string, string>): Promise<Fetched<string>> {
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.name : 'error');
    throw new CredentialFetchError(`the token endpoint ${origin(url)} could not be reached (${cause})`);
  }
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> = {};
  try {
    const j = JSON.parse(text) as unknown;
    if (typeof j === 'object' && j !== null) body = j as Record<string, unknown>;
  } catch {
    // not JSON: reported by status below
  }
  if (!res.ok) {
    // OAuth2 error codes (RFC 6749 §5.2) are safe to show; descriptions may echo request fields.
    const code = typeof body['error'] === 'string' ? ` (${body['error'].slice(0, 60)})` : '';
    throw new CredentialFetchError(`the token endpoint ${origin(url)} answered HTTP ${res.status}${code}`);
  }
  const token = body['access_token'];
  if (typeof token !== 'string' || token.length === 0) throw new CredentialFetchError(`the token endpoint ${origin(url)} returned no access_token`);
  const expiresIn = Number(body['expires_in']);
  const lifetimeMs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : 3600_000;
  return { value: token, expiresAtMs: started + lifetimeMs };
}

function origin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return 'URL';
  }
}

const METADATA_TOKEN_URL = 'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token';

/**
 * Application Default Credentials, resolved at first use: the key file named by
 * GOOGLE_APPLICATION_CREDENTIALS, else the metadata server (GKE Workload Identity, GCE).
 */
export function gcpAdcSource(policy: string, tokenUrl: string | undefined, env: NodeJS.ProcessEnv = process.env): RefreshingSource<string> {
  let delegate: RefreshingSource<string> | undefined;
  return new RefreshingSource(policy, 'gcp', async () => {
    const file = env['GOOGLE_APPLICATION_CREDENTIALS'];
    if (file !== undefined && file !== '') {
      if (delegate === undefined) {
        const { readFile } = await import('node:fs/promises');
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch (err) {
          throw new CredentialFetchError(`cannot read GOOGLE_APPLICATION_CREDENTIALS ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        const sa = parseServiceAccount(text);
        if ('error' in sa) throw new CredentialFetchError(`${sa.error} (${file})`);
        delegate = gcpTokenSource(policy, sa, tokenUrl);
      }
      await delegate.whenReady();
      return { value: delegate.current() ?? '', expiresAtMs: Date.now() + 5 * 60_000 };
    }
    const started = Date.now();
    let res: Response;
    try {
      res = await fetch(tokenUrl ?? METADATA_TOKEN_URL, { headers: { 'metadata-flavor': 'Google' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch {
      throw new CredentialFetchError('no GCP credentials: GOOGLE_APPLICATION_CREDENTIALS is not set and the metadata server is unreachable; give the policy a credentialsFile');
    }
    if (!res.ok) throw new CredentialFetchError(`the GCP metadata server answered HTTP ${res.status}`);
    const j = (await res.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown };
    if (typeof j.access_token !== 'string') throw new CredentialFetchError('the GCP metadata server returned no access_token');
    const s = Number(j.expires_in);
    return { value: j.access_token, expiresAtMs: started + (Number.isFinite(s) && s > 0 ? s * 1000 : 3600_000) };
  });
}
