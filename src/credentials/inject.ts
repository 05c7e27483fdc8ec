// The backend's own credential, from its BackendSecurityPolicy, set after every other header so
// nothing (client headers, header mutations) can replace it.
import type { UpstreamCredential } from '../config/types.js';

export function injectCredential(headers: Record<string, string>, credential: UpstreamCredential | undefined): void {
  if (credential === undefined) return;
  switch (credential.kind) {
    case 'header':
      headers[credential.header] = credential.value.reveal();
      return;
  }
}
