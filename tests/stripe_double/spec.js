'use strict';
// Stripe's OpenAPI spec (API version 2023-08-16): by default the extract shipped next to this
// file (spec3.extract.json.gz, made by extract_spec.js; read in a few ms); a whole spec3.yaml
// still loads (YAML parsing takes ~1.5 s; a JSON copy is cached in the temp dir),
// routes matched by path template, and requests checked against their operation: the form
// body (POST) or query (GET/DELETE) against the schema, values coerced from strings the way
// Stripe reads them. The request schemas use a small keyword set (type, properties,
// additionalProperties, required, items, enum, anyOf, maxLength, format); this checker
// implements exactly that set and says so when it meets anything else.
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const zlib = require('zlib');

// Bumped when what reduce() keeps changes: an older cache is not read.
const CACHE_FORMAT = 2;

// What the double needs of an operation: its parameters and form schema without the prose
// (descriptions are most of the file), and the name of its answer's type (x-answer).
function stripProse(v) {
  if (Array.isArray(v)) return v.map(stripProse);
  if (!v || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'description' || k === 'title') continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(x).map(([n, p]) => [n, stripProse(p)])) : stripProse(x);
  }
  return out;
}

function reduce(spec) {
  const paths = {};
  for (const [tpl, ops] of Object.entries(spec.paths)) {
    paths[tpl] = {};
    for (const [method, op] of Object.entries(ops)) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      paths[tpl][method] = {
        parameters: stripProse(op.parameters || []),
        requestBody: op.requestBody && stripProse(op.requestBody),
        'x-answer': answerOf(op),
      };
    }
  }
  return { openapi: spec.openapi, info: { version: spec.info && spec.info.version }, paths };
}

function loadSpec(specPath, cacheDir) {
  if (specPath.endsWith('.json.gz')) return reduce(JSON.parse(zlib.gunzipSync(fs.readFileSync(specPath)).toString('utf8')));
  if (specPath.endsWith('.json')) return reduce(JSON.parse(fs.readFileSync(specPath, 'utf8')));
  const st = fs.statSync(specPath);
  const tag = crypto.createHash('sha256').update(`${CACHE_FORMAT}:${path.resolve(specPath)}:${st.size}:${st.mtimeMs}`).digest('hex').slice(0, 16);
  const cache = path.join(cacheDir || os.tmpdir(), `chorus-stripe-spec-${tag}.json`);
  try {
    return JSON.parse(fs.readFileSync(cache, 'utf8'));
  } catch (e) { /* no cache yet */ }
  const yaml = require(path.join(__dirname, '..', '..', 'tools', 'api', 'node_modules', 'js-yaml'));
  const spec = reduce(yaml.load(fs.readFileSync(specPath, 'utf8')));
  const tmp = `${cache}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(spec));
    fs.renameSync(tmp, cache); // atomic: a concurrent start reads the old or the whole file
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch (e2) { /* gone */ }
  }
  return spec;
}

class Routes {
  constructor(spec) {
    this.byMethod = {};
    for (const [tpl, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!['get', 'post', 'delete'].includes(method)) continue;
        const names = [];
        const re = new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{([^}]+)\\?\}/g, (m, n) => {
          names.push(n);
          return '([^/]+)';
        }) + '$');
        (this.byMethod[method.toUpperCase()] ||= []).push({ tpl, re, names, op });
      }
    }
    // literal segments win over parameters (/v1/charges/search before /v1/charges/{charge})
    for (const list of Object.values(this.byMethod)) list.sort((a, b) => a.names.length - b.names.length);
  }

  // {tpl, op, pathParams} or null; allowed lists the methods of a path that exists otherwise.
  match(method, p) {
    for (const r of this.byMethod[method] || []) {
      const m = r.re.exec(p);
      if (m) {
        const pathParams = {};
        try {
          r.names.forEach((n, i) => { pathParams[n] = decodeURIComponent(m[i + 1]); });
        } catch (e) {
          return null; // malformed percent-encoding: no such URL (Stripe's 404)
        }
        return { tpl: r.tpl, op: r.op, pathParams };
      }
    }
    return null;
  }

  pathExists(p) {
    return Object.values(this.byMethod).some((list) => list.some((r) => r.re.test(p)));
  }
}

class Invalid extends Error {
  constructor(param, message, code) {
    super(message);
    this.param = param;
    this.code = code || 'parameter_invalid';
  }
}

const KNOWN = new Set(['type', 'properties', 'additionalProperties', 'required', 'items', 'enum', 'anyOf', 'maxLength',
  'format', 'description', 'title', 'x-stripeBypassValidation', 'nullable']);

// Checks value (strings from a form) against schema; returns the value coerced to the schema's
// types, throws Invalid naming the parameter.
function check(schema, value, param) {
  for (const k of Object.keys(schema)) {
    if (!KNOWN.has(k)) throw new Error(`stripe double: schema keyword ${k} at ${param} is not implemented`);
  }
  if (schema.anyOf) {
    let first;
    for (const alt of schema.anyOf) {
      try {
        return check(alt, value, param);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        first ||= e;
      }
    }
    throw first && first.param !== param ? first : new Invalid(param, `Invalid ${param}: no alternative of the schema matches`);
  }
  let out = value;
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') throw new Invalid(param, `Invalid ${param}: must be a string`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        throw new Invalid(param, `Invalid ${param}: must be at most ${schema.maxLength} characters`);
      }
      break;
    case 'integer':
      if (typeof value !== 'string' || !/^-?\d{1,16}$/.test(value)) {
        throw new Invalid(param, `Invalid integer: ${typeof value === 'string' ? value : JSON.stringify(value)}`, 'parameter_invalid_integer');
      }
      out = Number(value);
      break;
    case 'number':
      if (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value)) throw new Invalid(param, `Invalid number: ${value}`);
      out = Number(value);
      break;
    case 'boolean':
      if (value !== 'true' && value !== 'false') throw new Invalid(param, `Invalid boolean: ${value}`);
      out = value === 'true';
      break;
    case 'array': {
      let arr = value;
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const keys = Object.keys(value);
        if (!keys.every((k) => /^\d+$/.test(k))) throw new Invalid(param, `Invalid array: ${param}`);
        arr = keys.sort((a, b) => Number(a) - Number(b)).map((k) => value[k]);
      }
      if (!Array.isArray(arr)) throw new Invalid(param, `Invalid array: ${param}`);
      out = arr.map((v, i) => (schema.items ? check(schema.items, v, `${param}[${i}]`) : v));
      break;
    }
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Invalid(param, `Invalid object: ${param}`);
      out = {};
      const props = schema.properties || {};
      for (const [k, v] of Object.entries(value)) {
        const sub = param ? `${param}[${k}]` : k;
        if (props[k]) out[k] = check(props[k], v, sub);
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') out[k] = check(schema.additionalProperties, v, sub);
        else if (schema.additionalProperties === true || (schema.additionalProperties === undefined && !schema.properties)) out[k] = v;
        else throw new Invalid(sub, `Received unknown parameter: ${sub}`, 'parameter_unknown');
      }
      for (const r of schema.required || []) {
        // Stripe reads an empty value as missing, except where the schema allows "" (anyOf
        // with enum [""]: "unset this field")
        if (value[r] === undefined || (value[r] === '' && !allowsEmpty(props[r]))) {
          const sub = param ? `${param}[${r}]` : r;
          throw new Invalid(sub, `Missing required param: ${sub}.`, 'parameter_missing');
        }
      }
      break;
    }
    case undefined:
      break;
    default:
      throw new Error(`stripe double: schema type ${schema.type} at ${param} is not implemented`);
  }
  if (schema.enum && !schema['x-stripeBypassValidation'] && !schema.enum.includes(out)) {
    throw new Invalid(param, `Invalid ${param}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  return out;
}

// Whether a schema accepts "" (an anyOf alternative, or the schema itself, with enum [""]).
function allowsEmpty(schema) {
  if (!schema) return false;
  if (schema.enum && schema.enum.includes('')) return true;
  return !!(schema.anyOf && schema.anyOf.some(allowsEmpty));
}

// Checks a request: form params (POST body) or query params (GET/DELETE) against op. Returns
// the coerced params; throws Invalid.
function checkRequest(method, op, params, pathParams) {
  for (const p of op.parameters || []) {
    if (p.in === 'path' && p.schema) check(p.schema, pathParams[p.name], p.name);
  }
  if (method === 'POST') {
    const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/x-www-form-urlencoded'];
    if (!body) {
      if (Object.keys(params).length) throw new Invalid(Object.keys(params)[0], `Received unknown parameter: ${Object.keys(params)[0]}`, 'parameter_unknown');
      return {};
    }
    const coerced = check(body.schema, params, '');
    if (op.requestBody.required && !Object.keys(params).length && (body.schema.required || []).length) {
      throw new Invalid(body.schema.required[0], `Missing required param: ${body.schema.required[0]}.`, 'parameter_missing');
    }
    return coerced;
  }
  const out = {};
  const query = (op.parameters || []).filter((p) => p.in === 'query');
  for (const [k, v] of Object.entries(params)) {
    const p = query.find((q) => q.name === k);
    if (!p) throw new Invalid(k, `Received unknown parameter: ${k}`, 'parameter_unknown');
    out[k] = p.schema ? check(p.schema, v, k) : v;
  }
  for (const p of query) {
    if (p.required && (params[p.name] === undefined || (params[p.name] === '' && !allowsEmpty(p.schema)))) throw new Invalid(p.name, `Missing required param: ${p.name}.`, 'parameter_missing');
  }
  return out;
}

// The type of a successful answer (reduce() keeps it as x-answer).
function answerResource(spec, op) {
  return op['x-answer'] || null;
}

// The schema name (x-resourceId / components key) a successful answer has, e.g. "payment_intent";
// for lists "list:<item>".
function answerOf(op) {
  const ok = op.responses && op.responses['200'];
  const schema = ok && ok.content && ok.content['application/json'] && ok.content['application/json'].schema;
  if (!schema) return null;
  if (schema.$ref) return schema.$ref.split('/').pop();
  if (schema.properties && schema.properties.object && schema.properties.data && schema.properties.data.items) {
    const it = schema.properties.data.items;
    return `list:${it.$ref ? it.$ref.split('/').pop() : ''}`;
  }
  return null;
}

// A JSON file, gzipped when its name ends .gz (the shipped fixtures extract).
function loadJson(file) {
  const raw = fs.readFileSync(file);
  return JSON.parse((file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8'));
}

module.exports = { loadJson, loadSpec, Routes, Invalid, check, checkRequest, answerResource };
