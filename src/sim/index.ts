// The simulator's public API: start a vLLM-faithful simulated OpenAI-compatible server in-process.
// Used by `tollgate sim`, `tollgate demo`, the gateway's tests and the verify suite.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { ChatTemplate, EncodingName } from '../tokenizer/index.js';
import { renderDcgmMetrics } from './metrics.js';
import { ProfileError, type SimProfile } from './profile.js';
import { resolveProfile } from './profiles.js';
import { FaultSpecError, parseRatedFault, type RatedFault } from './server/faults.js';
import { createSimHttpServer, simStats } from './server/http.js';
import { SimInstance } from './server/instance.js';

export type { SimProfile } from './profile.js';
export { BUILTIN_PROFILES, resolveProfile, profileFromObject } from './profiles.js';
export { ProfileError } from './profile.js';
export { FaultSpecError } from './server/faults.js';

export interface SimServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /**
   * When set, every /v1/* request must present it as `Authorization: Bearer <key>` (or `api-key:` /
   * `x-api-key:`), else 401 with an OpenAI-shaped error that never echoes the key.
   */
  apiKey?: string;
  /** The served model name (/v1/models, response `model`); default from the profile. */
  model?: string;
  /** 'fast' (default), 'h100x4-gpt-oss-120b', 'gemini-flash', a .json/.yaml profile path, or a profile object. */
  profile?: string | SimProfile;
  seed?: number;
  /** Count prompt tokens with another encoding than the profile's (realistic drift for the audit). */
  encoding?: EncodingName;
  /** Count prompt tokens with another chat template (a different tokenizer version). */
  template?: ChatTemplate;
  /** Count `tools` JSON as prompt tokens, as a chat template would. */
  countTools?: boolean;
  /** Faults applied to every request at a rate: `SPEC@RATE`, e.g. `status=503@0.01` (see docs). */
  faults?: readonly string[];
  /** Also serve vLLM's deprecated metric names (gpu_cache_usage_perc, time_per_output_token_seconds). */
  showHiddenMetrics?: boolean;
  /** Serve the DCGM exporter's metrics on their own port too (`/metrics` there), like a real node. */
  dcgmPort?: number;
}

export interface SimServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What startSimServer returns: SimServer plus introspection for tools and tests. */
export interface SimServerHandle extends SimServer {
  readonly model: string;
  readonly profile: SimProfile;
  /** The DCGM exporter URL when `dcgmPort` was given. */
  readonly dcgmUrl: string | undefined;
  stats(): Record<string, unknown>;
}

export class SimConfigError extends Error {
  readonly hint: string | undefined;
  /** The system error code behind it (EADDRINUSE…), so callers can react to a busy port. */
  readonly code: string | undefined;
  constructor(message: string, hint?: string, code?: string) {
    super(message);
    this.name = 'SimConfigError';
    this.hint = hint;
    this.code = code;
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function urlFor(host: string, port: number): string {
  const h = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host;
  return `http://${h}:${port}`;
}

export async function startSimServer(opts: SimServerOptions = {}): Promise<SimServerHandle> {
  let profile: SimProfile;
  let faults: RatedFault[];
  try {
    profile = await resolveProfile(opts.profile);
    faults = (opts.faults ?? []).map(parseRatedFault);
  } catch (err) {
    if (err instanceof ProfileError) throw new SimConfigError(err.message, err.hint);
    if (err instanceof FaultSpecError) throw new SimConfigError(err.message, 'see docs/simulator.md, "Fault injection"');
    throw err;
  }
  const inst = await SimInstance.create({
    profile,
    faults,
    ...(opts.model === undefined ? {} : { model: opts.model }),
    ...(opts.apiKey === undefined ? {} : { apiKey: opts.apiKey }),
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.encoding === undefined ? {} : { encoding: opts.encoding }),
    ...(opts.template === undefined ? {} : { template: opts.template }),
    ...(opts.countTools === undefined ? {} : { countTools: opts.countTools }),
    ...(opts.showHiddenMetrics === undefined ? {} : { showHiddenMetrics: opts.showHiddenMetrics }),
  });
  const host = opts.host ?? '127.0.0.1';
  const server = createSimHttpServer(inst);
  let port: number;
  try {
    port = await listen(server, host, opts.port ?? 0);
  } catch (err) {
    inst.close();
    const code = (err as { code?: string }).code;
    throw new SimConfigError(`cannot listen on ${host}:${opts.port ?? 0}: ${code ?? String(err)}`, code === 'EADDRINUSE' ? 'pick another port, or 0 for a free one' : undefined, code);
  }
  let dcgm: Server | undefined;
  let dcgmUrl: string | undefined;
  if (opts.dcgmPort !== undefined) {
    dcgm = createServer((req, res) => {
      const text = req.url === '/metrics' ? renderDcgmMetrics(inst) : undefined;
      res.writeHead(text === undefined ? 404 : 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text ?? 'Not Found\n');
    });
    try {
      dcgmUrl = urlFor(host, await listen(dcgm, host, opts.dcgmPort));
    } catch (err) {
      inst.close();
      await closeServer(server);
      throw new SimConfigError(`cannot listen for DCGM metrics on ${host}:${opts.dcgmPort}: ${(err as { code?: string }).code ?? String(err)}`);
    }
  }
  let closed: Promise<void> | undefined;
  return {
    url: urlFor(host, port),
    port,
    model: inst.model,
    profile,
    dcgmUrl,
    stats: () => simStats(inst),
    close: () => {
      closed ??= (async () => {
        inst.close();
        await Promise.all([closeServer(server), dcgm === undefined ? Promise.resolve() : closeServer(dcgm)]);
      })();
      return closed;
    },
  };
}

export { loadCassettes, parseCassette, CassetteIndex, CassetteError, type Interaction } from './replay/cassette.js';
export { startReplayServer, type ReplayServer, type ReplayTiming, type ReplayOptions } from './replay/server.js';
export { startRecordProxy, type RecordProxy, type RecordOptions } from './replay/record.js';
export { runWorkload, ramp, formatRamp, DEFAULT_WORKLOAD, type Workload, type RunResult, type RampResult } from './offline.js';
export { startProviderSim, isProviderApi, PROVIDER_APIS, type ProviderApi, type ProviderSimOptions, type ProviderSimServer } from './providers/index.js';
