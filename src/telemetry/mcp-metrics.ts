// MCP gateway metrics. Labels come from bounded sets: JSON-RPC methods the gateway knows (others are
// `other`), backendRef names from the config, and tool names only once a backend owns them (a name
// nobody owns is counted under tool="").
import { Counter, Histogram, type Registry } from 'prom-client';

export interface McpObservation {
  readonly method: string;
  readonly backend: string;
  readonly tool: string;
  readonly outcome: string;
  readonly seconds: number;
}

export class McpMetrics {
  private readonly requests: Counter<'method' | 'backend' | 'tool' | 'outcome'>;
  private readonly duration: Histogram<'method' | 'backend' | 'outcome'>;
  private readonly sessions: Counter<'outcome'>;
  private readonly backendFailures: Counter<'backend' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'tollgate_mcp_requests_total',
      help: 'MCP JSON-RPC requests through the MCP gateway, by method, backend (MCP server), tool and outcome.',
      labelNames: ['method', 'backend', 'tool', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'tollgate_mcp_request_duration_seconds',
      help: 'Time to answer an MCP JSON-RPC request, gateway included.',
      labelNames: ['method', 'backend', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.sessions = new Counter({ name: 'tollgate_mcp_sessions_total', help: 'MCP sessions opened (initialize), by outcome.', labelNames: ['outcome'], registers });
    this.backendFailures = new Counter({
      name: 'tollgate_mcp_backend_failures_total',
      help: 'Exchanges with an MCP server that failed (unavailable, timeout, bad_response, session_expired, http_error), by backend and reason.',
      labelNames: ['backend', 'reason'],
      registers,
    });
  }

  observe(o: McpObservation): void {
    this.requests.inc({ method: o.method, backend: o.backend, tool: o.tool, outcome: o.outcome });
    this.duration.observe({ method: o.method, backend: o.backend, outcome: o.outcome }, o.seconds);
  }

  session(outcome: string): void {
    this.sessions.inc({ outcome });
  }

  backendFailure(backend: string, reason: string): void {
    this.backendFailures.inc({ backend, reason });
  }
}
