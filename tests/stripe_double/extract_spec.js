'use strict';
// Makes the reduced Stripe spec and fixtures the double ships with (tests/stripe_double/
// STRIPE_SPEC.md says where they come from): from Stripe's spec3.yaml and
// fixtures3.2023-09-12.json (../shared/specs/stripe next to the project root), keeps exactly
// the operations the double models (the 'METHOD /v1/...' keys of server.js's apiHandlers,
// which are every call chorus makes and a few the tests make), every component they
// reference, transitively, and the fixtures of those components. Prose (description, title,
// summary) is dropped: nothing reads it and it is most of the file.
//
//   node extract_spec.js [--shared DIR]           writes spec3.extract.json.gz, fixtures3.extract.json.gz
//   node extract_spec.js [--shared DIR] --check   exit 1 when the shipped files differ from a fresh extraction
//
// Parsing the YAML needs js-yaml (tools/api/node_modules); the double itself does not.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const HERE = __dirname;
const SPEC_OUT = path.join(HERE, 'spec3.extract.json.gz');
const FIXTURES_OUT = path.join(HERE, 'fixtures3.extract.json.gz');
const PROSE = new Set(['description', 'title', 'summary']);

function sharedDir(argv) {
  const i = argv.indexOf('--shared');
  if (i >= 0) return argv[i + 1];
  for (let dir = path.resolve(HERE, '..', '..'); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const cand = path.join(path.dirname(dir), 'shared', 'specs', 'stripe');
    if (fs.existsSync(path.join(cand, 'spec3.yaml'))) return cand;
  }
  throw new Error('../shared/specs/stripe/spec3.yaml not found (pass --shared DIR)');
}

// The operations the double models: the keys of apiHandlers in server.js.
function operations() {
  const src = fs.readFileSync(path.join(HERE, 'server.js'), 'utf8');
  const ops = [...src.matchAll(/^\s*'(GET|POST|DELETE) (\/v1\/[^']*)':/gm)].map((m) => [m[1].toLowerCase(), m[2]]);
  if (!ops.length) throw new Error('no handler keys found in server.js');
  return ops;
}

function stripProse(v) {
  if (Array.isArray(v)) return v.map(stripProse);
  if (!v || typeof v !== 'object') return v;
  const out = {};
  for (const k of Object.keys(v).sort()) {
    if (PROSE.has(k)) continue;
    // property names are data, not prose (a property may be called "description")
    out[k] = k === 'properties'
      ? Object.fromEntries(Object.keys(v[k]).sort().map((n) => [n, stripProse(v[k][n])]))
      : stripProse(v[k]);
  }
  return out;
}

function refsOf(v, into) {
  if (Array.isArray(v)) v.forEach((x) => refsOf(x, into));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') into.push(x);
      else refsOf(x, into);
    }
  }
}

function extract(spec, fixtures) {
  const paths = {};
  for (const [method, tpl] of operations()) {
    const op = spec.paths[tpl] && spec.paths[tpl][method];
    if (!op) throw new Error(`${method.toUpperCase()} ${tpl} is not in the spec`);
    (paths[tpl] ||= {})[method] = stripProse(op);
  }
  const sorted = {};
  for (const tpl of Object.keys(paths).sort()) sorted[tpl] = paths[tpl];
  // components, transitively
  const schemas = {};
  const todo = [];
  refsOf(sorted, todo);
  while (todo.length) {
    const ref = todo.pop();
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
    if (!m) throw new Error(`unsupported $ref ${ref}`);
    if (schemas[m[1]]) continue;
    const s = spec.components.schemas[m[1]];
    if (!s) throw new Error(`dangling $ref ${ref}`);
    schemas[m[1]] = stripProse(s);
    refsOf(schemas[m[1]], todo);
  }
  const names = Object.keys(schemas).sort();
  const out = {
    openapi: spec.openapi,
    info: { version: spec.info.version },
    paths: sorted,
    components: { schemas: Object.fromEntries(names.map((n) => [n, schemas[n]])) },
  };
  const fx = {};
  for (const n of names) if (fixtures.resources[n]) fx[n] = fixtures.resources[n];
  return { spec: out, fixtures: { resources: fx } };
}

// Gzip with a fixed header (no mtime): the same input gives the same bytes.
const pack = (obj) => zlib.gzipSync(Buffer.from(`${JSON.stringify(obj, null, 1)}\n`), { level: 9 });
const unpack = (file) => JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));

function main() {
  const argv = process.argv.slice(2);
  const dir = sharedDir(argv);
  const yaml = require(path.join(HERE, '..', '..', 'tools', 'api', 'node_modules', 'js-yaml'));
  const spec = yaml.load(fs.readFileSync(path.join(dir, 'spec3.yaml'), 'utf8'));
  const fixtures = JSON.parse(fs.readFileSync(path.join(dir, 'fixtures3.2023-09-12.json'), 'utf8'));
  const fresh = extract(spec, fixtures);
  if (argv.includes('--check')) {
    const same = (file, obj) => {
      try {
        return JSON.stringify(unpack(file)) === JSON.stringify(obj);
      } catch (e) {
        return false;
      }
    };
    const bad = [[SPEC_OUT, fresh.spec], [FIXTURES_OUT, fresh.fixtures]].filter(([f, o]) => !same(f, o)).map(([f]) => path.basename(f));
    if (bad.length) {
      process.stderr.write(`stale: ${bad.join(', ')} differ from a fresh extraction (run node tests/stripe_double/extract_spec.js)\n`);
      process.exit(1);
    }
    process.stdout.write('extract up to date\n');
    return;
  }
  fs.writeFileSync(SPEC_OUT, pack(fresh.spec));
  fs.writeFileSync(FIXTURES_OUT, pack(fresh.fixtures));
  process.stdout.write(`${Object.keys(fresh.spec.paths).length} paths, ${Object.keys(fresh.spec.components.schemas).length} schemas, ` +
    `${Object.keys(fresh.fixtures.resources).length} fixtures\n`);
}

if (require.main === module) main();
module.exports = { extract, unpack };
