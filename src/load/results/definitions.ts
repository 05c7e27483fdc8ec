// What each figure means, stated in the report (vLLM's benchmark definitions where they exist:
// vllm/benchmarks/serve.py and its backend request functions).
export const DEFINITIONS: Readonly<Record<string, string>> = {
  TTFT: 'Time to first token: from sending the request to the first streamed chunk that carries generated text, reasoning or a tool call (vLLM counts its first chunk with choices; the role-only chunk carries no token). Non-streamed requests: the whole response time.',
  TPOT: 'Time per output token, excluding the first: (end-to-end latency − TTFT) / (output tokens − 1), per request, for requests with more than one output token. Output tokens come from the response usage (completion_tokens); without usage, the count of token-carrying chunks.',
  ITL: 'Inter-token latency: every gap between consecutive token-carrying chunks of a stream, pooled over requests (vLLM records every chunk gap; when the network coalesces chunks, gaps of ~0 appear).',
  E2E: 'End-to-end latency: from sending the request to the last byte of the response, as the client sees it (the whitepaper\'s downstream latency).',
  'Output tokens': 'completion_tokens from the response usage (bodies ask for stream_options.include_usage).',
  RPS: 'Completed requests (successes and errors, not requests cancelled at the end of the run) per second of the step or phase; a request belongs to the step in which it was sent.',
  Goodput: 'Requests per second that succeeded and met every SLO of the plan (TTFT, TPOT, E2E).',
  'Error rate': 'Errors / (successes + errors). Errors by class: HTTP 429, other 4xx, 5xx, connect, timeout, reset mid-response, incomplete stream, malformed response, error event in a stream.',
  'Schedule lag': 'How late the harness sent what it had scheduled (session starts and turns after think time) on the absolute clock. A run whose p99 lag exceeds the plan\'s limit is flagged: late sends under-count queueing (coordinated omission).',
  'Users / level': 'Users mode: closed-loop users, each replaying sessions back to back (turns wait for the previous response, then the recorded think time; sessions start after a pause drawn from the profile\'s arrival process). Rate mode: sessions arriving open-loop per second.',
  T2: 'Compute boundary: the rolling mean TTFT over the gate window exceeds factor × the baseline (the mean TTFT of the first stable ramp step), for `sustain` consecutive evaluations.',
  T3: 'Memory boundary (hard stop): preemptions / finished requests of the engine (Δvllm:num_preemptions_total / Δvllm:request_success_total over the window) exceeds the limit.',
  'Gateway overhead': 'Downstream minus upstream duration per request, from the gateway\'s tollgate_gateway_overhead_seconds histogram (mean over the phase); without it, the gateway\'s own time before the response headers from its server-timing header. Upstream = downstream − overhead.',
  'Engine figures': 'Means over the interval of the engine\'s own histograms (Δsum / Δcount of vllm:time_to_first_token_seconds, vllm:request_queue_time_seconds, vllm:request_prefill_time_seconds, …), scraped from its /metrics.',
};
