#!/usr/bin/env node
/**
 * Builds the optional native kernels (native/kernels.cc → build/Release/cyclesparse_native.node).
 *
 * Runs as the package's install script, so it must never fail an install: when oneDNN's headers
 * are missing, node-gyp cannot be found, or the compiler fails, it says why and exits 0, and the
 * library runs on WASM. `--strict` or CYCLESPARSE_NATIVE_REQUIRED=1 (CI, which installs
 * libdnnl-dev) turns every one of those into a failure, so the native path is really built and
 * tested there.
 *
 * node-gyp normally downloads Node's headers; this machine has no internet, so when the running
 * Node ships its headers (`<prefix>/include/node/node_api.h`, as Debian's and the official
 * tarballs do) they are used via --nodedir.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const strict = process.argv.includes('--strict') || process.env.CYCLESPARSE_NATIVE_REQUIRED === '1';
// fileURLToPath, not .pathname: a path with spaces or non-ASCII letters stays a real path.
const root = fileURLToPath(new URL('..', import.meta.url));

function skip(reason) {
  const message = `cyclesparse: native kernels not built (${reason}); training runs on WASM.`;
  if (strict) {
    console.error(`${message}\n--strict: failing.`);
    process.exit(1);
  }
  console.error(message);
  process.exit(0);
}

if (process.env.CYCLESPARSE_NATIVE === '0') skip('CYCLESPARSE_NATIVE=0');
if (process.platform !== 'linux')
  skip(`platform ${process.platform}: only Linux builds are supported`);

const dnnlHeaders = [
  '/usr/include/dnnl.h',
  '/usr/include/oneapi/dnnl/dnnl.h',
  '/usr/local/include/dnnl.h',
];
if (!dnnlHeaders.some((path) => existsSync(path))) {
  skip('oneDNN headers not found; install them with `apt-get install libdnnl-dev`');
}

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency; the npm-bundled copy above is the usual one
  }
  return candidates.find((path) => existsSync(path));
}

const nodeGyp = findNodeGyp();
if (nodeGyp === undefined) skip('node-gyp not found (it ships with npm)');

const args = [nodeGyp, 'rebuild'];
const prefix = dirname(dirname(process.execPath));
if (existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);

const result = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (result.status !== 0) skip(`node-gyp exited with ${result.status ?? result.signal}`);

// The addon must load in this Node, not only compile.
const built = join(root, 'build/Release/cyclesparse_native.node');
try {
  const addon = createRequire(import.meta.url)(built);
  console.error(`cyclesparse: native kernels built (${addon.version()}).`);
} catch (error) {
  skip(`the built addon does not load: ${error instanceof Error ? error.message : String(error)}`);
}
