// Writes a workerd configuration that runs the Usher Worker locally, from the same
// configuration documents `usher edge serve --config DIR` reads.
//
//   node edge/cloudflare/local/workerd-config.mjs --config DIR [--worker DIR] [--assets DIR]
//        [--listen 127.0.0.1:8787] [--out DIR]
//   edge/cloudflare/node_modules/@cloudflare/workerd-linux-64/bin/workerd serve OUT/workerd.capnp
//
// --config  events.json, pathways.json, settings.json, ticket-keys.json, session-key.txt and
//           optionally content-keys.json, health-keys.json and health.json. Each present document
//           becomes the binding the Worker reads (the variables USHER_EVENTS, USHER_PATHWAYS,
//           USHER_SETTINGS, the secrets USHER_TICKET_KEYS, USHER_SESSION_KEY,
//           USHER_CONTENT_KEYS, USHER_HEALTH_KEYS); a missing one is left out, so the Worker
//           answers 503 config_error as it would on Cloudflare (or, for health-keys, refuses
//           every health snapshot). health.json, the controller's signed snapshot, seeds the
//           USHER_HEALTH KV namespace under `snapshot`; it is read through, so rewriting
//           OUT/seed/USHER_HEALTH/snapshot publishes a new snapshot.
// --worker  worker-build's output (index.js, index_bg.wasm); default edge/cloudflare/build.
// --assets  a directory laid out by asset name (what `make edge-assets` writes to
//           target/edge-assets), seeded into the USHER_ASSETS KV namespace.
// --listen  the socket workerd serves on; default 127.0.0.1:8787.
// --out     where to write; default target/workerd. Everything the config embeds is copied
//           there, so the directory is self-contained and a rebuild does not change a running
//           workerd.
//
// What the generated config holds: the Worker; three KV namespaces (USHER_ASSETS, USHER_LEASES,
// USHER_HEALTH) served by kv.mjs, a stand-in that speaks the protocol workerd uses for KV
// bindings; the Cache API served by cache.mjs (cacheApiOutbound); and outbound fetch through a
// network service that allows local and private addresses, since workerd's default outbound
// refuses them and the origin of a local run is on 127.0.0.1. workerd gives no `request.cf`
// and no CF-Connecting-IP, so locally the core sees no client address or geolocation.

import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');

// The compatibility date the Worker is written and tested against; deployments use the same.
export const COMPATIBILITY_DATE = '2025-09-01';

// Configuration documents and the bindings they become.
const DOCUMENTS = [
  ['events.json', 'USHER_EVENTS'],
  ['pathways.json', 'USHER_PATHWAYS'],
  ['settings.json', 'USHER_SETTINGS'],
  ['ticket-keys.json', 'USHER_TICKET_KEYS'],
  ['session-key.txt', 'USHER_SESSION_KEY'],
  ['content-keys.json', 'USHER_CONTENT_KEYS'],
  ['health-keys.json', 'USHER_HEALTH_KEYS'],
];
const NAMESPACES = ['USHER_ASSETS', 'USHER_LEASES', 'USHER_HEALTH'];
// Cap'n Proto declaration names are camelCase: USHER_ASSETS is declared as kvAssets.
const declaration = (namespace) =>
  `kv${namespace.slice('USHER_'.length, 'USHER_'.length + 1)}${namespace.slice('USHER_'.length + 1).toLowerCase()}`;

export function generate({ config, worker, assets, listen, out }) {
  for (const [name, path] of [['--config', config], ['--worker', worker]]) {
    if (!existsSync(path)) throw new Error(`${name} ${path}: no such directory`);
  }
  for (const file of ['index.js', 'index_bg.wasm']) {
    if (!existsSync(join(worker, file))) {
      throw new Error(`${join(worker, file)} is missing: build the Worker first (make cloudflare-worker)`);
    }
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'config'), { recursive: true });

  // The Worker: the bundle and every module it imports (the wasm, and any snippets wasm-bindgen
  // wrote beside it).
  const modules = [];
  cpSync(worker, join(out, 'worker'), { recursive: true });
  modules.push(`(name = "index.js", esModule = embed "worker/index.js")`);
  for (const file of walk(join(out, 'worker'))) {
    if (file === 'index.js') continue;
    if (file.endsWith('.wasm')) modules.push(`(name = ${str(file)}, wasm = embed ${str(`worker/${file}`)})`);
    else if (file.endsWith('.js') && file.startsWith('snippets/')) {
      modules.push(`(name = ${str(file)}, esModule = embed ${str(`worker/${file}`)})`);
    }
  }

  const bindings = [];
  for (const [file, binding] of DOCUMENTS) {
    if (!existsSync(join(config, file))) continue;
    cpSync(join(config, file), join(out, 'config', file));
    // Text bindings serve both `env.var` and `env.secret`, as vars and secrets do on Workers.
    bindings.push(`(name = ${str(binding)}, text = embed ${str(`config/${file}`)})`);
  }
  for (const namespace of NAMESPACES) {
    mkdirSync(join(out, 'seed', namespace), { recursive: true });
    bindings.push(`(name = ${str(namespace)}, kvNamespace = ${str(`kv-${namespace}`)})`);
  }
  if (assets) {
    if (!existsSync(assets)) throw new Error(`--assets ${assets}: no such directory`);
    cpSync(assets, join(out, 'seed', 'USHER_ASSETS'), { recursive: true });
  }
  if (existsSync(join(config, 'health.json'))) {
    cpSync(join(config, 'health.json'), join(out, 'seed', 'USHER_HEALTH', 'snapshot'));
  }
  cpSync(join(here, 'kv.mjs'), join(out, 'kv.mjs'));
  cpSync(join(here, 'cache.mjs'), join(out, 'cache.mjs'));

  const services = [
    `(name = "usher", worker = .usher)`,
    `(name = "cache", worker = .cache)`,
    // The local origin is on 127.0.0.1; workerd's default outbound allows public addresses only.
    `(name = "outbound", network = (allow = ["local", "private"]))`,
  ];
  const stores = [];
  for (const namespace of NAMESPACES) {
    services.push(`(name = ${str(`kv-${namespace}`)}, worker = .${declaration(namespace)})`);
    services.push(`(name = ${str(`seed-${namespace}`)}, disk = (path = ${str(resolve(out, 'seed', namespace))}))`);
    stores.push(`const ${declaration(namespace)} :Workerd.Worker = (
  modules = [ (name = "kv.mjs", esModule = embed "kv.mjs") ],
  compatibilityDate = ${str(COMPATIBILITY_DATE)},
  bindings = [ (name = "SEED", service = ${str(`seed-${namespace}`)}) ],
);`);
  }

  const capnp = `# Generated by edge/cloudflare/local/workerd-config.mjs: the Usher Worker under workerd, for
# local runs. Regenerate rather than edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    ${services.join(',\n    ')},
  ],
  sockets = [ (name = "http", address = ${str(listen)}, http = (), service = "usher") ],
);

const usher :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')},
  ],
  compatibilityDate = ${str(COMPATIBILITY_DATE)},
  bindings = [
    ${bindings.join(',\n    ')},
  ],
  globalOutbound = "outbound",
  cacheApiOutbound = "cache",
);

const cache :Workerd.Worker = (
  modules = [ (name = "cache.mjs", esModule = embed "cache.mjs") ],
  compatibilityDate = ${str(COMPATIBILITY_DATE)},
);

${stores.join('\n\n')}
`;
  writeFileSync(join(out, 'workerd.capnp'), capnp);
  return join(out, 'workerd.capnp');
}

// Files below `dir`, as paths relative to it with `/` separators.
function walk(dir, prefix = '') {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? walk(join(dir, entry.name), `${prefix}${entry.name}/`)
      : [`${prefix}${entry.name}`],
  );
}

// A Cap'n Proto text literal.
function str(text) {
  return JSON.stringify(text);
}

function parseArgs(argv) {
  const options = {
    worker: join(repo, 'edge/cloudflare/build'),
    listen: '127.0.0.1:8787',
    out: join(repo, 'target/workerd'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const name = { '--config': 'config', '--worker': 'worker', '--assets': 'assets', '--listen': 'listen', '--out': 'out' }[flag];
    if (!name || value === undefined) {
      throw new Error(`usage: workerd-config.mjs --config DIR [--worker DIR] [--assets DIR] [--listen ADDR] [--out DIR] (bad: ${flag})`);
    }
    options[name] = resolve(value);
    if (name === 'listen') options.listen = value;
  }
  if (!options.config) throw new Error('--config DIR is required');
  return options;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(generate(parseArgs(process.argv.slice(2))));
  } catch (error) {
    console.error(`workerd-config: ${error.message}`);
    process.exit(2);
  }
}
