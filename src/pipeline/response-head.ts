// The response head a client gets for a relayed 2xx: the upstream's own headers (minus hop-by-hop
// ones) plus what the gateway adds: rate-limit and quota headers, the request id, server timing,
// the backend that answered and the endpoint picker's decision. It is separate from the proxy's
// attempt loop because it is a pure function of what that loop learned; reading it in one place
// shows every header a client can see on success.
import type { OutgoingHttpHeaders } from 'node:http';
import type { BackendRefConfig } from '../config/types.js';
import type { ResponseTranslator } from '../providers/types.js';
import { errorShapeOf } from '../ingress/errors.js';
import { clientResponseHeaders } from './headers.js';
import type { ProxyInput } from './proxy-types.js';
import { serverTiming } from './respond.js';

export interface RelayHeadInput {
  readonly input: ProxyInput;
  /** The upstream response's headers. */
  readonly upstream: Record<string, string | string[] | undefined>;
  readonly translator: ResponseTranslator;
  /** The gateway asked the upstream for a usage chunk the client did not request (and hides it). */
  readonly forcedUsage: boolean;
  readonly quotaHeaders: Readonly<Record<string, string>> | undefined;
  readonly pickDebug: string | undefined;
  readonly ref: BackendRefConfig | undefined;
  readonly nowMs: number;
  /** Time spent in upstream attempts so far, the open one included. */
  readonly upstreamMs: number;
}

export function relayHead(h: RelayHeadInput): OutgoingHttpHeaders {
  const { input } = h;
  // The translator may drop bytes (the usage chunk it hides), so the length is no longer known.
  const out = clientResponseHeaders(h.upstream, h.forcedUsage || h.translator.rewritesBody === true);
  if (h.translator.contentType !== undefined) out['content-type'] = h.translator.contentType;
  for (const k in input.limitHeaders) out[k] = input.limitHeaders[k];
  if (h.quotaHeaders !== undefined) for (const k in h.quotaHeaders) out[k] ??= h.quotaHeaders[k];
  out['x-request-id'] = input.requestId;
  const shape = errorShapeOf(input.client.operation);
  if (shape.headers !== undefined) Object.assign(out, shape.headers(input.requestId));
  if (h.pickDebug !== undefined) out['x-tollgate-endpoint-pick'] = h.pickDebug;
  out['server-timing'] = serverTiming(h.nowMs - input.startMs - h.upstreamMs, h.upstreamMs);
  // Which backend answered (after failover or a weighted pick): its config name, nothing secret.
  if (h.ref !== undefined) out['x-tollgate-backend'] = h.ref.backend.name;
  return out;
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
