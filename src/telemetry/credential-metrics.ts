// Upstream credential refreshes (GCP and Azure tokens, temporary AWS keys) as metrics and log lines:
// a refresh that fails is visible here long before the token it was replacing expires.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import { credentialStats, onCredentialEvent } from '../credentials/observe.js';

/** Registers the credential metrics on `registry` and logs refreshes; returns the unsubscribe. */
export function attachCredentialTelemetry(registry: Registry, logger: Logger): () => void {
  const registers = [registry];
  new Counter({
    name: 'tollgate_credential_refreshes_total',
    help: 'Background fetches of upstream credentials (OAuth2 tokens, temporary AWS keys), by policy and result (ok, error).',
    labelNames: ['policy', 'kind', 'result'],
    registers,
    collect() {
      this.reset();
      for (const s of credentialStats()) {
        this.inc({ policy: s.policy, kind: s.kind, result: 'ok' }, s.refreshes);
        this.inc({ policy: s.policy, kind: s.kind, result: 'error' }, s.failures);
      }
    },
  });
  new Gauge({
    name: 'tollgate_credential_expiry_timestamp_seconds',
    help: 'When the current upstream credential of a policy expires (Unix seconds).',
    labelNames: ['policy', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of credentialStats()) if (s.expiresAtMs !== undefined) this.set({ policy: s.policy, kind: s.kind }, s.expiresAtMs / 1000);
    },
  });
  return onCredentialEvent((e) => {
    if (e.ok) logger.debug('upstream credential refreshed', { policy: e.policy, kind: e.kind, expiresAt: e.expiresAtMs === undefined ? null : new Date(e.expiresAtMs).toISOString() });
    else logger.warn('upstream credential refresh failed', { policy: e.policy, kind: e.kind, error: e.error });
  });
}
