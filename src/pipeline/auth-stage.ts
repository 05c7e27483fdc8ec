// The auth stage: client authentication, identity binding and authorization, between the request's
// arrival and its route. Binding is done by rewriting the request's own header object, so routing,
// rate limits, accounting, metrics and the upstream all read the same verified `x-workload-app`
// (and claimToHeaders / forwardClientIDHeader values); a client-sent copy never survives.
//
// Order: with only a Gateway-level policy, the credential is checked before the body is read (an
// anonymous client cannot make the gateway buffer a body). Route- and rule-level policies need the
// route, which needs the body's model: they are checked after the first match, and when binding
// changes x-workload-app the request is routed again (Envoy's recomputeRoute), at most a few times.
import type { ClientSecurityConfig, ClientSecurityPolicy, RuleConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { authenticatePolicy, AuthFailure, authorize, type AuthzFacts, type Identity, keySourceFor, type RequestView, WORKLOAD_HEADER } from '../auth/index.js';
import { parseAddress, type ParsedAddress } from '../limits/cidr.js';
import type { ModelList } from '../protocol/openai.js';
import type { Generation } from './generation.js';
import { headerString, type Req } from './http.js';

export interface AuthRequest {
  readonly method: string;
  readonly path: string;
  readonly remoteAddress: string | undefined;
  readonly requestId: string;
  readonly logger: Logger;
}

/** Re-routing after a binding changed the workload: bounded, so two policies cannot ping-pong. */
const MAX_REROUTES = 3;
/** Policies tried when a request matches nothing until its credential names the workload. */
const MAX_DISCOVERY = 8;

export class AuthGate {
  #identity: Identity | undefined;
  readonly #claimed: string | undefined;
  readonly #view: RequestView;
  #address: ParsedAddress | undefined | null = null;

  constructor(
    private readonly sec: ClientSecurityConfig,
    private readonly req: Req,
    private readonly info: AuthRequest,
  ) {
    this.#claimed = headerString(req.headers[WORKLOAD_HEADER]);
    // Credentials are read from the headers as they arrived: binding strips them from the live
    // object, and a re-route may need them again for another policy.
    this.#view = { headers: { ...req.headers }, rawHeaders: rawHeadersOf(req) };
  }

  /** Authenticates with the Gateway-level policy now, when no route or rule has its own. */
  async early(): Promise<void> {
    const g = this.sec.gateway;
    if (g !== undefined && this.sec.routes.size === 0 && this.sec.rules.size === 0) await this.#authenticate(g);
  }

  /**
   * The rule for this request, after authentication with the policy that governs it, binding and
   * authorization. undefined when nothing matches (the caller answers 404). Throws 401 / 403.
   */
  async route(model: string | undefined, match: () => RuleConfig | undefined): Promise<RuleConfig | undefined> {
    let rule = match() ?? (this.#identity === undefined ? await this.#discover(match) : undefined);
    for (let i = 0; i <= MAX_REROUTES; i++) {
      if (rule === undefined) {
        // Under a Gateway-level policy every request needs a good credential, routable or not:
        // what routes exist is not said to a client that has not authenticated.
        const g = this.sec.gateway;
        if (g !== undefined && this.#identity === undefined) await this.#authenticate(g);
        return undefined;
      }
      const policy = policyFor(this.sec, rule);
      if (policy === undefined) return rule;
      if (this.#identity?.policy !== policy) {
        const before = headerString(this.req.headers[WORKLOAD_HEADER]);
        await this.#authenticate(policy);
        if (headerString(this.req.headers[WORKLOAD_HEADER]) !== before) {
          rule = match();
          continue;
        }
      }
      this.#authorize(policy, model, rule.routeKey);
      return rule;
    }
    throw new GatewayError('forbidden', 'The credential\'s workload is routed between routes with different SecurityPolicies; the gateway cannot settle which one applies. Send the request for a route the credential is meant for.');
  }

  /**
   * Nothing matched as the client sent it, and no policy has spoken yet (route-level policies only):
   * the client may have left out x-workload-app and expect its credential to say it. Try the policies
   * whose credential the request carries; the first that authenticates binds the workload, and the
   * request is routed again. When none accepts it, a credential that was presented but failed
   * verification is a 401 naming why; with no credential at all the request gets its 404.
   */
  async #discover(match: () => RuleConfig | undefined): Promise<RuleConfig | undefined> {
    const seen = new Set<ClientSecurityPolicy>();
    let refused: AuthFailure | undefined;
    let accepted = false;
    for (const p of [this.sec.gateway, ...this.sec.routes.values(), ...this.sec.rules.values()]) {
      if (p === undefined || seen.has(p) || (p.apiKeyAuth === undefined && p.jwt === undefined)) continue;
      seen.add(p);
      if (seen.size > MAX_DISCOVERY) break;
      let id: Identity;
      try {
        id = await authenticatePolicy(p, this.#view);
      } catch (err) {
        if (!(err instanceof AuthFailure)) throw err;
        if (err.reason !== 'missing') refused ??= err;
        continue;
      }
      accepted = true;
      if (id.workload === undefined) continue;
      this.#checkClaim(id);
      const rule = this.#bindTentatively(id, match);
      if (rule !== undefined) return rule;
    }
    // A credential was presented and no policy accepted it: that is the answer, not the 404 the
    // missing workload would give (the client would chase a routing problem it does not have).
    if (refused !== undefined && !accepted) {
      delete this.req.headers[WORKLOAD_HEADER];
      this.info.logger.debug('client authentication failed', { requestId: this.info.requestId, reason: refused.reason });
      throw refused.toGatewayError();
    }
    return undefined;
  }

  /** Binds `id` and routes; keeps the binding only if the route's policy is the one that spoke. */
  #bindTentatively(id: Identity, match: () => RuleConfig | undefined): RuleConfig | undefined {
    const headers = this.req.headers;
    const saved = new Map<string, string | string[] | undefined>();
    for (const name of [...id.drop, ...id.set.map(([n]) => n)]) saved.set(name, headers[name]);
    this.#apply(id);
    const rule = match();
    if (rule !== undefined && policyFor(this.sec, rule) === id.policy) {
      this.#identity = id;
      return rule;
    }
    for (const [name, v] of saved) {
      if (v === undefined) delete headers[name];
      else headers[name] = v;
    }
    return undefined;
  }

  /** Reject mode: a client-sent x-workload-app that disagrees with the credential is refused. */
  #checkClaim(id: Identity): void {
    const claimed = this.#claimed;
    if (id.workload === undefined || claimed === undefined || claimed === id.workload || id.policy.identityMismatch !== 'Reject') return;
    this.info.logger.debug('workload header disagrees with the credential', { requestId: this.info.requestId, policy: id.policy.key, principal: id.principal });
    delete this.req.headers[WORKLOAD_HEADER];
    throw new GatewayError(
      'forbidden',
      `x-workload-app "${printable(claimed)}" does not match the workload of the presented credential ("${id.workload}"); omit the header or send that workload's credential.`,
    );
  }

  #apply(id: Identity): void {
    const headers = this.req.headers;
    for (const name of id.drop) delete headers[name];
    for (const [name, value] of id.set) headers[name] = value;
    if (id.workload !== undefined) headers[WORKLOAD_HEADER] = id.workload;
  }

  /** The /v1/models body for this client: only models some rule would let it use. */
  async models(gen: Generation): Promise<Buffer> {
    const g = this.sec.gateway;
    if (g === undefined) return gen.modelList;
    if (this.#identity?.policy !== g) await this.#authenticate(g);
    if (g.authorization === undefined) return gen.modelList;
    const all = JSON.parse(gen.modelList.toString('utf8')) as ModelList;
    const auth = g.authorization;
    const data = all.data.filter((m) => authorize(auth, this.#facts(m.id, undefined, 'POST', '/v1/chat/completions')).allowed);
    return Buffer.from(JSON.stringify({ object: 'list', data }));
  }

  async #authenticate(policy: ClientSecurityPolicy): Promise<void> {
    let id: Identity;
    try {
      id = await authenticatePolicy(policy, this.#view);
    } catch (err) {
      // The request is refused; its accounting must not carry a workload nobody proved.
      delete this.req.headers[WORKLOAD_HEADER];
      if (err instanceof AuthFailure) {
        this.info.logger.debug('client authentication failed', { requestId: this.info.requestId, policy: policy.key, reason: err.reason });
        throw err.toGatewayError();
      }
      throw err;
    }
    this.#checkClaim(id);
    this.#apply(id);
    this.#identity = id;
  }

  #authorize(policy: ClientSecurityPolicy, model: string | undefined, routeKey: string): void {
    const auth = policy.authorization;
    if (auth === undefined) return;
    const d = authorize(auth, this.#facts(model, routeKey, this.info.method, this.info.path));
    if (d.allowed) return;
    const who = this.#identity?.workload === undefined ? 'An anonymous client' : `Workload "${this.#identity.workload}"`;
    const what = model === undefined ? 'this route' : `model "${printable(model)}"`;
    const why = d.rule === undefined ? 'no authorization rule allows it' : d.rule.name === undefined ? 'an authorization rule denies it' : `authorization rule "${d.rule.name}" denies it`;
    this.info.logger.debug('request not authorized', { requestId: this.info.requestId, policy: policy.key, principal: this.#identity?.principal, rule: d.rule?.name ?? d.rule?.index });
    throw new GatewayError('forbidden', `${who} is not allowed to use ${what} (${why}).`);
  }

  #facts(model: string | undefined, routeKey: string | undefined, method: string, path: string): AuthzFacts {
    const headers = this.req.headers;
    const id = this.#identity;
    return {
      method,
      path,
      address: () => {
        if (this.#address === null) this.#address = this.info.remoteAddress === undefined ? undefined : parseAddress(this.info.remoteAddress);
        return this.#address;
      },
      header: (name) => (name === 'x-ai-eg-model' ? model : headerString(headers[name])),
      jwt: id?.jwt,
      model,
      routeKey,
    };
  }
}

/**
 * The auth gate for a request, already past Gateway-level authentication when that can be done
 * before the body; undefined when the config has no SecurityPolicy.
 */
export async function beginAuth(gen: Generation, req: Req, info: AuthRequest): Promise<AuthGate | undefined> {
  const sec = gen.config.security;
  if (sec === undefined) return undefined;
  if (!warmed.has(sec)) warm(sec);
  const gate = new AuthGate(sec, req, info);
  await gate.early();
  return gate;
}

// The first request under a new config starts fetching every remote key set it names, so the
// requests right behind it do not each wait for their issuer's keys.
const warmed = new WeakSet<ClientSecurityConfig>();

function warm(sec: ClientSecurityConfig): void {
  warmed.add(sec);
  for (const p of [sec.gateway, ...sec.routes.values(), ...sec.rules.values()]) {
    for (const provider of p?.jwt?.providers ?? []) keySourceFor(provider.jwks).warm();
  }
}

/** The most specific policy for a rule: rule-level, else route-level, else Gateway-level. */
export function policyFor(sec: ClientSecurityConfig, rule: RuleConfig): ClientSecurityPolicy | undefined {
  if (rule.name !== undefined && sec.rules.size > 0) {
    const r = sec.rules.get(`${rule.routeKey}#${rule.name}`);
    if (r !== undefined) return r;
  }
  return sec.routes.get(rule.routeKey) ?? sec.gateway;
}

// Both node:http and the HTTP/2 compatibility API keep the headers as received; the pipeline's Req
// type does not name them, so read them defensively.
function rawHeadersOf(req: Req): readonly string[] {
  const raw = (req as { rawHeaders?: unknown }).rawHeaders;
  return Array.isArray(raw) ? (raw as string[]) : [];
}

function printable(v: string): string {
  return v.slice(0, 100).replace(/[^\x20-\x7e]/g, '?');
}
