// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
// the canonical request, the string to sign and the signature. Shared by the gateway's signer and the
// Bedrock simulator's verifier; the official AWS SDK signing requests that the simulator accepts is
// what proves this code right.
import { createHash, createHmac } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

/** RFC 3986 percent-encoding of everything but unreserved characters (what SigV4 calls UriEncode). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The canonical URI for services other than S3: the path as sent, normalized (empty and "." segments
 * dropped, ".." applied) and then URI-encoded once more, so `%3A` on the wire signs as `%253A`.
 */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const normalized = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

/** Canonical query string: parameters sorted by encoded name (then value), each name=value encoded. */
export function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq === -1 ? part : part.slice(0, eq);
    const v = eq === -1 ? '' : part.slice(eq + 1);
    pairs.push([uriEncode(safeDecode(k)), uriEncode(safeDecode(v))]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, '%20'));
  } catch {
    return s;
  }
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `YYYYMMDDTHHMMSSZ` for an epoch-ms time. */
export function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** HMAC chain "AWS4"+secret → date → region → service → "aws4_request". Valid for one day. */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

export interface CanonicalInput {
  readonly method: string;
  /** The path exactly as sent on the request line (already percent-encoded). */
  readonly path: string;
  /** The query string without `?`, or "". */
  readonly query: string;
  /** The headers to sign, by lower-cased name. */
  readonly headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`). */
  readonly payloadHash: string;
}

export interface SignatureParts {
  readonly canonicalRequest: string;
  readonly signedHeaders: string;
  readonly stringToSign: string;
  readonly scope: string;
  readonly signature: string;
}

export function canonicalRequest(input: CanonicalInput): { text: string; signedHeaders: string } {
  const names = Object.keys(input.headers).sort();
  let headerBlock = '';
  for (const n of names) headerBlock += `${n}:${(input.headers[n] as string).trim().replace(/\s+/g, ' ')}\n`;
  const signedHeaders = names.join(';');
  const text = [input.method.toUpperCase(), canonicalUri(input.path), canonicalQuery(input.query), headerBlock, signedHeaders, input.payloadHash].join('\n');
  return { text, signedHeaders };
}

export function computeSignature(
  input: CanonicalInput,
  amzDateValue: string,
  region: string,
  service: string,
  key: Buffer,
): SignatureParts {
  const { text, signedHeaders } = canonicalRequest(input);
  const scope = `${amzDateValue.slice(0, 8)}/${region}/${service}/aws4_request`;
  const stringToSign = `${SIGV4_ALGORITHM}\n${amzDateValue}\n${scope}\n${sha256Hex(text)}`;
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return { canonicalRequest: text, signedHeaders, stringToSign, scope, signature };
}

export function authorizationHeader(accessKeyId: string, parts: SignatureParts): string {
  return `${SIGV4_ALGORITHM} Credential=${accessKeyId}/${parts.scope}, SignedHeaders=${parts.signedHeaders}, Signature=${parts.signature}`;
}

export interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`; undefined when malformed. */
export function parseAuthorization(value: string): ParsedAuthorization | undefined {
  if (!value.startsWith(`${SIGV4_ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const cred = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (cred === undefined || signed === undefined || signature === undefined) return undefined;
  const c = cred.split('/');
  if (c.length !== 5 || c[4] !== 'aws4_request') return undefined;
  return {
    accessKeyId: c[0] as string,
    date: c[1] as string,
    region: c[2] as string,
    service: c[3] as string,
    signedHeaders: signed.split(';'),
    signature,
  };
}
