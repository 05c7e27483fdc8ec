// Zero trust towards clients (whitepaper ch. 2 and test case 2): no credential a client sends ever
// reaches an upstream, whatever its letter case or number of copies. Node lower-cases header names
// and groups copies under one name, so dropping a name drops every copy.

/** Headers that carry credentials for some LLM API or for a browser session. */
export const CLIENT_CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'cookie',
  // Amazon's SigV4 and session tokens, and Google's user project, would let a client act as itself.
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-content-sha256',
]);

/** Envoy AI Gateway's own control headers (`x-aigw-*`) are never accepted from clients. */
const GATEWAY_PREFIX = 'x-aigw-';

export function isClientCredentialHeader(lowerName: string): boolean {
  return CLIENT_CREDENTIAL_HEADERS.has(lowerName) || lowerName.startsWith(GATEWAY_PREFIX);
}
