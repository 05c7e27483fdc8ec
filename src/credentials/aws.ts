// AWS keys for SigV4: from a shared credentials file (a Secret, with a profile), or from the default
// chain the AWS SDKs use, resolved when first needed: environment variables, web identity (IRSA,
// via STS AssumeRoleWithWebIdentity), container credentials (EKS Pod Identity, ECS), then the shared
// credentials file of the gateway's own user. Temporary keys refresh in the background.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AwsKeys } from '../config/types.js';
import { CredentialFetchError, RefreshingSource, type Fetched } from './refresh.js';

const FETCH_TIMEOUT_MS = 10_000;

/** Reads one profile of an INI credentials file; sections are `[name]` or `[profile name]`. */
export function parseCredentialsFile(text: string, profile: string): AwsKeys | { error: string; hint: string } {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (sec !== null) {
      const name = sec[1] as string;
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq === -1 || current === undefined) continue;
    current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  const p = sections.get(profile);
  if (p === undefined) {
    const names = [...sections.keys()];
    return {
      error: `the AWS credentials file has no profile "${profile}"`,
      hint: names.length === 0 ? 'the file needs a [default] section with aws_access_key_id and aws_secret_access_key' : `profiles in the file: ${names.join(', ')}`,
    };
  }
  const id = p.get('aws_access_key_id');
  const secret = p.get('aws_secret_access_key');
  if (id === undefined || id === '' || secret === undefined || secret === '') {
    return { error: `profile "${profile}" of the AWS credentials file needs aws_access_key_id and aws_secret_access_key`, hint: 'e.g. [default] aws_access_key_id = AKIA… aws_secret_access_key = …' };
  }
  const token = p.get('aws_session_token');
  return { accessKeyId: id, secretAccessKey: secret, sessionToken: token === undefined || token === '' ? undefined : token };
}

export function staticKeySource(policy: string, keys: AwsKeys): RefreshingSource<AwsKeys> {
  return new RefreshingSource(policy, 'aws', () => Promise.resolve({ value: keys, expiresAtMs: undefined }));
}

/** The SDKs' default provider chain, resolved from the gateway's environment at first use. */
export function defaultChainSource(policy: string, region: string, env: NodeJS.ProcessEnv = process.env): RefreshingSource<AwsKeys> {
  return new RefreshingSource(policy, 'aws', () => resolveChain(region, env));
}

async function resolveChain(region: string, env: NodeJS.ProcessEnv): Promise<Fetched<AwsKeys>> {
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  if (id !== undefined && id !== '' && secret !== undefined && secret !== '') {
    const token = env['AWS_SESSION_TOKEN'];
    return { value: { accessKeyId: id, secretAccessKey: secret, sessionToken: token === '' ? undefined : token }, expiresAtMs: undefined };
  }
  const tokenFile = env['AWS_WEB_IDENTITY_TOKEN_FILE'];
  const roleArn = env['AWS_ROLE_ARN'];
  if (tokenFile !== undefined && tokenFile !== '' && roleArn !== undefined && roleArn !== '') {
    return assumeRoleWithWebIdentity(region, tokenFile, roleArn, env);
  }
  const full = env['AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  const rel = env['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'];
  if ((full !== undefined && full !== '') || (rel !== undefined && rel !== '')) {
    return containerCredentials(full !== undefined && full !== '' ? full : `http://169.254.170.2${rel ?? ''}`, env);
  }
  const file = env['AWS_SHARED_CREDENTIALS_FILE'] ?? join(homedir(), '.aws', 'credentials');
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const r = parseCredentialsFile(text, env['AWS_PROFILE'] ?? 'default');
    if ('error' in r) throw new CredentialFetchError(`${r.error} (${file})`);
    return { value: r, expiresAtMs: undefined };
  }
  throw new CredentialFetchError(
    'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (IRSA), AWS_CONTAINER_CREDENTIALS_FULL_URI (Pod Identity), or give the policy a credentialsFile',
  );
}

async function assumeRoleWithWebIdentity(region: string, tokenFile: string, roleArn: string, env: NodeJS.ProcessEnv): Promise<Fetched<AwsKeys>> {
  let token: string;
  try {
    token = (await readFile(tokenFile, 'utf8')).trim();
  } catch (err) {
    throw new CredentialFetchError(`cannot read AWS_WEB_IDENTITY_TOKEN_FILE ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const endpoint = env['AWS_ENDPOINT_URL_STS'] ?? `https://sts.${region}.amazonaws.com`;
  const params = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: roleArn,
    RoleSessionName: env['AWS_ROLE_SESSION_NAME'] ?? `tollgate-${Date.now()}`,
    WebIdentityToken: token,
  });
  const text = await get(`${endpoint.replace(/\/$/, '')}/`, { method: 'POST', body: params.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 'STS');
  const tag = (name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
  const id = tag('AccessKeyId');
  const secret = tag('SecretAccessKey');
  if (id === undefined || secret === undefined) throw new CredentialFetchError('STS AssumeRoleWithWebIdentity returned no credentials');
  const exp = Date.parse(tag('Expiration') ?? '');
  return { value: { accessKeyId: id, secretAccessKey: secret, sessionToken: tag('SessionToken') }, expiresAtMs: Number.isFinite(exp) ? exp : Date.now() + 3600_000 };
}

async function containerCredentials(url: string, env: NodeJS.ProcessEnv): Promise<Fetched<AwsKeys>> {
  let auth = env['AWS_CONTAINER_AUTHORIZATION_TOKEN'];
  const authFile = env['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];
  if (authFile !== undefined && authFile !== '') {
    try {
      auth = (await readFile(authFile, 'utf8')).trim();
    } catch (err) {
      throw new CredentialFetchError(`cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ${authFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const text = await get(url, { method: 'GET', headers: auth === undefined || auth === '' ? {} : { authorization: auth } }, 'the container credentials endpoint');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CredentialFetchError('the container credentials endpoint did not return JSON');
  }
  const id = j['AccessKeyId'];
  const secret = j['SecretAccessKey'];
  if (typeof id !== 'string' || typeof secret !== 'string') throw new CredentialFetchError('the container credentials endpoint returned no AccessKeyId/SecretAccessKey');
  const exp = typeof j['Expiration'] === 'string' ? Date.parse(j['Expiration']) : NaN;
  return {
    value: { accessKeyId: id, secretAccessKey: secret, sessionToken: typeof j['Token'] === 'string' ? j['Token'] : undefined },
    expiresAtMs: Number.isFinite(exp) ? exp : undefined,
  };
}

async function get(url: string, init: { method: string; body?: string; headers: Record<string, string> }, what: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.name : 'error');
    throw new CredentialFetchError(`${what} could not be reached (${cause})`);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    const code = /<Code>([^<]{1,80})<\/Code>/.exec(text)?.[1];
    throw new CredentialFetchError(`${what} answered HTTP ${res.status}${code === undefined ? '' : ` (${code})`}`);
  }
  return text;
}
