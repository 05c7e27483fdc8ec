// Shared command-line plumbing: flag parsing with node:util, usage errors (exit 2) and one-line
// errors with hints (exit 1), never stack traces for user mistakes.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

/** A failure the user can act on: printed as one line plus a hint, exit code 1. */
export class CliError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(message: string, hint?: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.hint = hint;
    this.exitCode = exitCode;
  }
}

export interface CommandSpec<O extends NonNullable<ParseArgsConfig['options']>> {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: O;
  readonly allowPositionals?: boolean;
}

export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  spec: CommandSpec<O>,
  argv: string[],
): ReturnType<typeof parseArgs<{ options: O; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: argv, options: spec.options, allowPositionals: spec.allowPositionals ?? false, strict: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new UsageError(msg.replace(/\. To specify a positional argument.*$/s, ''), `see \`tollgate ${spec.name} --help\``);
  }
}

/** `HOST:PORT`, `:PORT` or `PORT` → parts. IPv6 hosts go in brackets: `[::1]:8080`. */
export function parseHostPort(value: string, flag: string, defaultHost = '0.0.0.0'): { host: string; port: number } {
  let host = defaultHost;
  let portText = value;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (bracket !== null) {
    host = bracket[1] ?? host;
    portText = bracket[2] ?? '';
  } else if (value.includes(':')) {
    const i = value.lastIndexOf(':');
    host = value.slice(0, i) || defaultHost;
    portText = value.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new UsageError(`${flag}: "${value}" is not HOST:PORT`, `for example ${flag} 127.0.0.1:8080 (port 0 picks a free port)`);
  }
  return { host, port };
}

export function parsePositiveInt(value: string, flag: string, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`${flag}: "${value}" must be a whole number from ${min} to ${max}`);
  }
  return n;
}

export function formatHelp(spec: { name: string; summary: string; usage: string }): string {
  return `tollgate ${spec.name}: ${spec.summary}\n\n${spec.usage.trim()}\n`;
}
