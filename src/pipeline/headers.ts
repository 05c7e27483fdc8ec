// The headers an upstream receives: the client's, minus hop-by-hop headers, minus every client
// credential, minus headers only the gateway may set; then the route's header mutations; then the
// provider's own headers; then the backend credential, last, so nothing can override it (SigV4
// signs the final request).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderMutation, UpstreamCredential } from '../config/types.js';
import { isClientCredentialHeader, type ClientCredentialStrip } from '../credentials/client.js';
import { injectCredential, type SigningTarget } from '../credentials/inject.js';

// RFC 9110 §7.6.1 connection-specific fields: they describe one hop, so neither direction copies them.
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings'];

// Request headers not forwarded: the connection-specific ones, plus what the gateway recomputes (host, length).
const HOP_BY_HOP: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC, 'host', 'content-length', 'expect']);

// Set by the gateway itself; a client-sent value is never trusted.
const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  'x-ai-eg-model',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  // The gateway reads response bodies for usage, so it asks upstreams for identity encoding.
  'accept-encoding',
]);

export interface UpstreamHeaderInput {
  readonly requestId: string;
  readonly model: string | undefined;
  readonly clientAddress: string | undefined;
  readonly scheme: 'http' | 'https';
  /** Replaces the client's `traceparent` when the gateway traces the request (its span is the parent). */
  readonly traceparent?: string | undefined;
  readonly backendMutation: HeaderMutation;
  readonly refMutation: HeaderMutation;
  readonly credential: UpstreamCredential | undefined;
  readonly strip: ClientCredentialStrip;
  /** Headers the upstream API needs (content-type, API version), set after mutations. */
  readonly providerHeaders?: Readonly<Record<string, string>> | undefined;
  /** The request as sent, for credentials that sign it (SigV4). */
  readonly signing?: SigningTarget | undefined;
}

export function buildUpstreamHeaders(incoming: IncomingHttpHeaders, input: UpstreamHeaderInput): Record<string, string> {
  const out: Record<string, string> = {};
  const connectionTokens = connectionListed(incoming['connection']);
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58) continue; // HTTP/2 pseudo-headers (":path", …)
    if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name) || isClientCredentialHeader(input.strip, name)) continue;
    if (connectionTokens !== undefined && connectionTokens.has(name)) continue;
    const v = incoming[name];
    if (v === undefined) continue;
    out[name] = typeof v === 'string' ? v : v.join(', ');
  }
  out['x-request-id'] = input.requestId;
  if (input.model !== undefined) out['x-ai-eg-model'] = input.model;
  const prior = incoming['x-forwarded-for'];
  if (input.clientAddress !== undefined) {
    out['x-forwarded-for'] = typeof prior === 'string' && prior.length > 0 ? `${prior}, ${input.clientAddress}` : input.clientAddress;
  }
  out['x-forwarded-proto'] = input.scheme;
  out['accept-encoding'] = 'identity';
  if (input.traceparent !== undefined) out['traceparent'] = input.traceparent;
  // Route-level mutations take precedence over backend-level ones (Envoy AI Gateway semantics).
  applyMutation(out, input.backendMutation);
  applyMutation(out, input.refMutation);
  const ph = input.providerHeaders;
  if (ph !== undefined) for (const k in ph) out[k] = ph[k] as string;
  injectCredential(out, input.credential, incoming, input.signing);
  return out;
}

function applyMutation(headers: Record<string, string>, m: HeaderMutation): void {
  for (const name of m.remove) delete headers[name];
  for (const [name, value] of m.set) headers[name] = value;
}

function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : value.join(',');
  if (text.length === 0) return undefined;
  const tokens = new Set<string>();
  for (const t of text.split(',')) {
    const name = t.trim().toLowerCase();
    if (name.length > 0 && name !== 'close' && name !== 'keep-alive') tokens.add(name);
  }
  return tokens.size === 0 ? undefined : tokens;
}

/**
 * The upstream response headers a client gets: without hop-by-hop headers and without the upstream's
 * own x-request-id / server-timing / x-tollgate-backend (the gateway sets its own); without content-length when the body
 * may change on the way.
 */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>, bodyMayChange: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (RESPONSE_HOP_BY_HOP.has(name)) continue;
    if (name === 'content-length' && bodyMayChange) continue;
    if (name === 'x-request-id' || name === 'server-timing' || name === 'x-tollgate-backend') continue;
    out[name] = upstream[name];
  }
  return out;
}

/** Response headers that must not be copied to the client (they describe the upstream hop). */
const RESPONSE_HOP_BY_HOP: ReadonlySet<string> = new Set(CONNECTION_SPECIFIC);
