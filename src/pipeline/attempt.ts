// undici's handler for one upstream attempt. It forwards to the request only while it is that
// request's current attempt, so late events from an abandoned attempt are ignored.
import type { Dispatcher } from 'undici';
import type { EndpointHandle } from '../upstream/pools.js';

/** Why the gateway itself aborted an attempt (never reported as an upstream failure). */
export class RetryAbort extends Error {}
export class ClientAbort extends Error {}
export class DeadlineAbort extends Error {}

export interface AttemptOwner {
  onResponseStart(h: AttemptHandler, status: number, headers: Record<string, string | string[] | undefined>): void;
  onResponseData(h: AttemptHandler, chunk: Buffer): void;
  onResponseEnd(h: AttemptHandler): void;
  onResponseError(h: AttemptHandler, err: Error): void;
}

export class AttemptHandler implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;

  constructor(
    private readonly owner: AttemptOwner,
    readonly endpoint: EndpointHandle,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    this.controller = controller;
    this.owner.onResponseStart(this, status, headers);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.owner.onResponseData(this, chunk);
  }

  onResponseEnd(): void {
    this.owner.onResponseEnd(this);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.owner.onResponseError(this, err);
  }
}
