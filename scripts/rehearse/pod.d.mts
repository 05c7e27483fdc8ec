// Types of pod.mjs for the TypeScript tests that use it. Rendered objects stay loosely typed: the
// tests validate them against the Kubernetes schemas rather than trusting a static type.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { ChildProcess } from 'node:child_process';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

export interface Mount {
  readonly readOnly: boolean;
  /** relative path → content; undefined for an emptyDir */
  readonly files: Record<string, string> | undefined;
}

export interface GatewayPod {
  readonly deployment: K8sObject;
  readonly spec: any;
  readonly container: any;
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly mounts: Record<string, Mount>;
}

export const ROOT: string;
export const KUSTOMIZE_DIR: string;
export const OVERLAYS: string[];
export function render(which: string): K8sObject[];
export function find(objects: K8sObject[], kind: string, name?: string): K8sObject;
export function gatewayPod(objects: K8sObject[]): GatewayPod;
export function writeKubeletVolume(dir: string, files: Record<string, string>): void;
export function helpFlags(help: string): Set<string>;
export function remapArgs(args: string[], o: { values: Record<string, string>; paths: Record<string, string> }): string[];
export function containerPort(container: any, port: string | number): number;
export function flagPort(args: string[], flag: string): number;
export function flagValue(args: string[], flag: string): string | undefined;
export function supportedArgs(args: string[], accepted: Set<string>): { args: string[]; dropped: string[] };
export function pointBackendsAt(files: Record<string, string>, host: string, port: number): Record<string, string>;
export interface StartedGateway {
  readonly child: ChildProcess;
  readonly ready: Promise<{ listen: number; admin: number }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole process group. */
  kill(): void;
  output(): string;
}
export function startGateway(command: string[], o?: { env?: Record<string, string>; cwd?: string; timeoutMs?: number }): StartedGateway;
export function materializeVolumes(pod: GatewayPod, hostRoot: string, backend?: { host: string; port: number }): Record<string, string>;
