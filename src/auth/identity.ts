// One policy's verdict on one request: run every authentication method it configures (all must
// pass, as Envoy's filters chain), then derive the identity: the principal, the workload it speaks
// for, and the headers the gateway sets from it. Nothing here trusts a header the client sent except
// the credential itself.
import type { JWTPayload } from 'jose';
import type { ClientSecurityPolicy } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { authenticateApiKey } from './apikey.js';
import type { RequestView } from './extract.js';
import { AuthFailure } from './failure.js';
import { authenticateJwt, claimString } from './jwt.js';

export const WORKLOAD_HEADER = 'x-workload-app';
const MAX_DERIVED_VALUE = 1024;

export interface Identity {
  readonly policy: ClientSecurityPolicy;
  /** `key:<client id>` or `jwt:<provider>:<sub>`; undefined for an anonymous request a policy lets through. */
  readonly principal: string | undefined;
  /** The workload the credential speaks for; undefined when anonymous. */
  readonly workload: string | undefined;
  readonly jwt: { readonly provider: string; readonly claims: JWTPayload } | undefined;
  /** Headers set from the credential (replacing whatever the client sent under those names). */
  readonly set: ReadonlyArray<readonly [string, string]>;
  /** Headers removed before routing: where credentials came from and every name the policy derives. */
  readonly drop: readonly string[];
}

export async function authenticatePolicy(policy: ClientSecurityPolicy, req: RequestView): Promise<Identity> {
  const set: Array<readonly [string, string]> = [];
  const drop = new Set<string>([WORKLOAD_HEADER]);
  let principal: string | undefined;
  let keyWorkload: string | undefined;
  let jwtWorkload: string | undefined;
  let jwt: Identity['jwt'];

  if (policy.apiKeyAuth !== undefined) {
    const r = authenticateApiKey(policy.apiKeyAuth, req);
    principal = `key:${r.client.clientId}`;
    keyWorkload = r.client.workload;
    if (r.header !== undefined) drop.add(r.header);
    const fwd = policy.apiKeyAuth.forwardClientIdHeader;
    if (fwd !== undefined) {
      drop.add(fwd);
      set.push([fwd, r.client.clientId]);
    }
  }
  if (policy.jwt !== undefined) {
    for (const p of policy.jwt.providers) for (const c of p.claimToHeaders) drop.add(c.header);
    const r = await authenticateJwt(policy.jwt, req);
    if (r !== undefined) {
      for (const h of r.headers) drop.add(h);
      jwt = { provider: r.provider.name, claims: r.claims };
      const sub = typeof r.claims.sub === 'string' ? r.claims.sub : '';
      principal ??= `jwt:${r.provider.name}:${sub}`;
      for (const c of r.provider.claimToHeaders) {
        const v = claimString(r.claims, c.claim);
        if (v === undefined || !headerSafe(v)) continue;
        if (c.header === WORKLOAD_HEADER) jwtWorkload = v;
        else set.push([c.header, v]);
      }
      if (jwtWorkload === undefined && !r.provider.claimToHeaders.some((c) => c.header === WORKLOAD_HEADER)) {
        const v = claimString(r.claims, policy.jwt.workloadClaim);
        if (v !== undefined && headerSafe(v)) jwtWorkload = v;
      }
      if (jwtWorkload === undefined) {
        throw new AuthFailure('claims', 'The bearer token has no usable workload claim, so the gateway cannot tell which workload it speaks for.', 'Bearer');
      }
    }
  }
  if (keyWorkload !== undefined && jwtWorkload !== undefined && keyWorkload !== jwtWorkload) {
    throw new GatewayError('forbidden', 'The API key and the bearer token speak for different workloads; send credentials of one workload.');
  }
  const workload = keyWorkload ?? jwtWorkload;
  return { policy, principal, workload, jwt, set, drop: [...drop] };
}

function headerSafe(v: string): boolean {
  if (v.length === 0 || v.length > MAX_DERIVED_VALUE) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c > 0xff) return false;
  }
  return true;
}
