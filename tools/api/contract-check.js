#!/usr/bin/env node
// The contract check of recorded traffic (issue 14): every request/response pair the
// black-box suite recorded (tests/blackbox/contract_rec.py, JSON lines) goes through Prism's
// own pipeline -- router, security and request validation, response validation -- exactly as
// `prism proxy` runs it, except that the "upstream" answer is the recorded one instead of a
// network call. The spec is read by Prism itself (getHttpOperationsFromSpec), $refs intact.
//
// Usage: node contract-check.js api/openapi.yaml rec-1.jsonl [rec-2.jsonl ...]
// Exit 0 when no response violates the spec, 1 when one does (each distinct violation is
// printed once with its operation, status, location, message, count and first test),
// 2 on a usage or read error.
'use strict';

const fs = require('fs');
const path = require('path');
const { createInstance, getHttpOperationsFromSpec } = require('@stoplight/prism-http');
const { createLogger } = require('@stoplight/prism-core');
// Prism's router, to name the operation it chose in the report (the same call the pipeline makes).
const route = require('@stoplight/prism-http/dist/router').default;

const MAX_LISTED = 200;       // distinct violations printed; the rest are counted
const UPSTREAM = 'http://recorded.invalid'; // never contacted: the forwarder below answers

// @stoplight/types DiagnosticSeverity. Prism reports an undocumented 4xx/5xx status as a
// warning; the API documents every status it answers, so warnings fail the check too.
const SEVERITY_ERROR = 0;
const SEVERITY_WARNING = 1;

function usage(msg) {
  process.stderr.write(`contract-check: ${msg}\nusage: contract-check.js SPEC REC.jsonl...\n`);
  process.exit(2);
}

function isJson(ctype) {
  const base = String(ctype || '').split(';')[0].trim().toLowerCase();
  return base === 'application/json' || /^application\/[^/]+\+json$/.test(base);
}

function lowerKeys(pairs) {
  const out = {};
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    out[key] = key in out ? `${out[key]},${v}` : v;
  }
  return out;
}

// The request as prism-http-server builds it from an incoming HTTP request.
function toInput(rec) {
  const url = new URL(rec.path, 'http://chorus.local');
  const query = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    query[key] = all.length === 1 ? all[0] : all;
  }
  const headers = lowerKeys(Object.entries(rec.req_headers || {}));
  let body = null;
  if (rec.req_body !== null && rec.req_body !== undefined) {
    const raw = Buffer.from(rec.req_body, 'base64');
    headers['content-length'] = headers['content-length'] || String(raw.length);
    body = raw.toString('utf8');
    if (isJson(headers['content-type'])) {
      try { body = JSON.parse(body); } catch (e) { /* prism-http-server would answer 400 */ }
    }
  }
  return {
    method: rec.method.toLowerCase(),
    url: { path: url.pathname, query, baseUrl: undefined },
    headers,
    body,
  };
}

// The response as Prism's forwarder parses an upstream answer (utils/parseResponse).
function toOutput(rec) {
  const headers = lowerKeys(rec.resp_headers || []);
  const text = Buffer.from(rec.resp_body || '', 'base64').toString('utf8');
  let body = text;
  if (rec.status !== 204 && isJson(headers['content-type'])) {
    try { body = JSON.parse(text); } catch (e) { body = text; }
  }
  return { statusCode: rec.status, headers, body };
}

function readRecords(files) {
  const out = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim()) out.push(JSON.parse(line));
    }
  }
  return out;
}

// The violation's location, array indexes folded ("items.3.id" -> "items[].id") so that one
// fault in every item of a page is reported once.
function where(v) {
  return (v.path || []).map(p => (/^[0-9]+$/.test(String(p)) ? '[]' : p)).join('.').replace(/\.\[\]/g, '[]') || '(whole)';
}

function foldIndexes(message) {
  return String(message).replace(/\.[0-9]+(?=[.\s]|$)/g, '[]');
}

async function main() {
  const [specFile, ...recFiles] = process.argv.slice(2);
  if (!specFile || recFiles.length === 0) usage('missing arguments');
  const operations = await getHttpOperationsFromSpec(path.resolve(specFile));
  const records = readRecords(recFiles);

  // Prism's router scores every operation against every request (most of this check's time
  // with ~90 operations); only operations of the same method and segment count can match, so
  // it gets just those, in document order (its tie-break between equal matches is unchanged).
  const candidates = new Map();
  for (const op of operations) {
    const key = `${op.method.toLowerCase()} ${op.path.split('/').length}`;
    if (!candidates.has(key)) candidates.set(key, []);
    candidates.get(key).push(op);
  }
  const routeNarrowed = ({ input }) =>
    route({ resources: candidates.get(`${input.method} ${input.url.path.split('/').length}`) || [], input });

  let current = null; // the record being replayed
  const forward = () => () => () => Promise.resolve({ _tag: 'Right', right: toOutput(current) });
  const logger = createLogger('CONTRACT', { level: 'silent' });
  const prism = createInstance(
    {
      isProxy: true,
      upstream: new URL(UPSTREAM),
      upstreamProxy: undefined,
      validateRequest: true,
      validateResponse: true,
      checkSecurity: true,
      errors: false,
      mock: { dynamic: false },
    },
    { logger, forward, route: routeNarrowed },
  );

  const failures = new Map();   // key -> {text, count, test}
  const requestIssues = new Map();
  const opsSeen = new Set();
  let unrouted = 0;
  let inputThrew = 0;
  let checked = 0;
  for (const rec of records) {
    current = rec;
    let result;
    try {
      result = await prism.request(toInput(rec), operations)();
    } catch (e) {
      // Prism's request validators throw on some malformed requests the suite sends on
      // purpose (e.g. `Content-Type: json`); the response is still checked.
      inputThrew++;
      result = await prism.request(toInput(rec), operations, { validateRequest: false, checkSecurity: false })();
    }
    if (result._tag === 'Left') {
      unrouted++;
      continue;
    }
    const { validations } = result.right;
    const routed = !validations.input.some(v => v.message === 'Selected route not found');
    if (!routed) {
      unrouted++;
      continue;
    }
    checked++;
    const routedTo = routeNarrowed({ input: toInput(rec) });
    const match = routedTo._tag === 'Right' ? routedTo.right : null;
    const name = match ? `${rec.method} ${match.path} (${match.iid || match.id})` : `${rec.method} ${rec.path}`;
    opsSeen.add(name);
    for (const v of validations.output) {
      if (v.severity !== SEVERITY_ERROR && v.severity !== SEVERITY_WARNING) continue;
      const text = `${name} ${rec.status}: response ${where(v)}: ${foldIndexes(v.message)}`;
      const seen = failures.get(text) || { text, count: 0, test: rec.test };
      seen.count++;
      failures.set(text, seen);
    }
    if (rec.status < 300 && !rec.req_truncated) {
      for (const v of validations.input) {
        if (v.severity !== SEVERITY_ERROR) continue;
        const text = `${name} ${rec.status}: the server accepted a request the spec rejects: ${where(v)}: ${foldIndexes(v.message)}`;
        const seen = requestIssues.get(text) || { text, count: 0, test: rec.test };
        seen.count++;
        requestIssues.set(text, seen);
      }
    }
  }

  const lines = [];
  lines.push(`contract check: ${records.length} recorded exchanges, ${checked} validated by Prism over ` +
             `${opsSeen.size} operations, ${unrouted} not in the spec (404/405 paths), ` +
             `${inputThrew} requests too malformed for Prism's request validator`);
  const list = (title, map) => {
    if (map.size === 0) return;
    lines.push(`${title}: ${map.size} distinct`);
    let n = 0;
    for (const f of map.values()) {
      if (n++ >= MAX_LISTED) { lines.push(`  ... ${map.size - MAX_LISTED} more`); break; }
      lines.push(`  - ${f.text}  [${f.count}x, first in ${f.test || '?'}]`);
    }
  };
  list('RESPONSE VIOLATIONS', failures);
  list('REQUEST VIOLATIONS ANSWERED 2xx', requestIssues);
  process.stdout.write(lines.join('\n') + '\n');
  process.exit(failures.size || requestIssues.size ? 1 : 0);
}

main().catch(e => {
  process.stderr.write(`contract-check: ${e && e.stack || e}\n`);
  process.exit(2);
});
