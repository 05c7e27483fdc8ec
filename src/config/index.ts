// The configuration system's public face: load manifests into a frozen RuntimeConfig, print
// diagnostics, dump the effective config, and watch for changes. Everything else in config/ is
// internal (yaml and zod stay in this folder).
export { type ConfigResult, loadConfig, type LoadOptions } from './load.js';
export { formatDiagnostics } from './diagnostics.js';
export { configDump } from './dump.js';
export { type ConfigWatcher, watchConfig, type WatchOptions } from './watch.js';
export { DEFAULT_RETRY } from './compile/policies.js';
export { DEFAULT_MODELS_OWNED_BY } from './compile/routes.js';
export { secretEnvName } from './secrets.js';
export * from './types.js';
