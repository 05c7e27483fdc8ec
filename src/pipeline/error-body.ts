// An upstream's non-2xx answer, collected so the provider can translate it into the gateway's
// error catalog. Only the first MAX_ERROR_BODY bytes are kept: an error body is read to explain the
// failure, and a backend that streams megabytes of it must not make the gateway hold them. It is
// separate from ProxyRequest because it is the one place an upstream's error text is read, and the
// one place the backend's credential is masked out of it before a client can see it.
import type { IncomingHttpHeaders } from 'node:http';
import type { BackendRefConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { redactCredentials } from '../credentials/inject.js';
import type { Provider } from '../providers/types.js';

/** Error bodies from upstream are read up to this size to translate them; the rest is dropped. */
const MAX_ERROR_BODY = 64 * 1024;

export class UpstreamErrorBody {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly status: number,
    private readonly contentType: string | undefined,
  ) {}

  push(chunk: Buffer): void {
    if (this.bytes < MAX_ERROR_BODY) {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
    }
  }

  /** The client-facing error, with the backend's credential masked if the body echoed it. */
  toError(provider: Provider, ref: BackendRefConfig | undefined, clientHeaders: IncomingHttpHeaders): GatewayError {
    const t = provider.translateError(this.status, this.contentType, Buffer.concat(this.chunks), ref?.backend.name ?? '');
    this.chunks = [];
    const message = redactCredentials(t.message, ref?.backend.credential, clientHeaders);
    return new GatewayError(t.code, message, { status: t.status, ...(t.param === null ? {} : { param: t.param }) });
  }
}
