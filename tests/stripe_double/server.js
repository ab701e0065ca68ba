'use strict';
// A local Stripe-compatible server for the tests (docs/design.md, "Marketplace: Stripe client
// and test double"). Listens on 127.0.0.1 only. Every /v1 request is checked against
// Stripe's OpenAPI spec (spec.js; a request that breaks it is answered 400 in Stripe's error
// shape and recorded as a violation), answered from the state (resources.js) in the shapes of
// the fixtures, with Stripe's Idempotency-Key rules (same key + same params: the first
// answer again with Idempotent-Replayed: true; other params: 400 idempotency_error; still
// running: 409). Events go out as signed webhooks (webhooks.js). /_double/* are the tests'
// control endpoints (JSON; tests/blackbox/stripe_double.py).
//
// node server.js --port-file F [--port 0] --secret-key sk_test_... --webhook-secret whsec_...
//                [--spec spec3.extract.json.gz|spec3.yaml] [--fixtures fixtures3.extract.json.gz|fixtures3.json]
//                [--cache-dir DIR]
const fs = require('fs');
const http = require('http');
const path = require('path');
const { parseForm } = require('./form');
const { loadJson, loadSpec, Routes, Invalid, checkRequest, answerResource } = require('./spec');
const { State, newId, err, missing, invalid } = require('./resources');
const { Webhooks } = require('./webhooks');

const API_VERSION = '2023-08-16';
const MAX_BODY = 1 << 20;         // bigger request bodies: 413
const MAX_REQUESTS_LOG = 20000;   // /v1 requests kept for GET /_double/requests
const MAX_VIOLATIONS = 1000;
const MAX_IDEMPOTENCY_KEYS = 50000;
const MAX_FAULTS = 100;
const MAX_FAULT_TIMEOUT_MS = 120000;

function args() {
  const a = { port: 0, cacheDir: null };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    if (k === '--port') a.port = Number(v), i++;
    else if (k === '--port-file') a.portFile = v, i++;
    else if (k === '--secret-key') a.secretKey = v, i++;
    else if (k === '--webhook-secret') a.webhookSecret = v, i++;
    else if (k === '--spec') a.spec = v, i++;
    else if (k === '--fixtures') a.fixtures = v, i++;
    else if (k === '--cache-dir') a.cacheDir = v, i++;
    else throw new Error(`unknown argument ${k}`);
  }
  // the extract shipped next to this file (extract_spec.js); --spec/--fixtures take others
  a.spec ||= path.join(__dirname, 'spec3.extract.json.gz');
  a.fixtures ||= path.join(__dirname, 'fixtures3.extract.json.gz');
  if (!a.secretKey || !a.webhookSecret) throw new Error('--secret-key and --webhook-secret are required');
  return a;
}

const log = (msg) => process.stdout.write(`${new Date().toISOString()} stripe-double: ${msg}\n`);

// JSON with sorted keys: equal params compare equal whatever their order in the form.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

class Double {
  constructor(opts) {
    this.opts = opts;
    const t0 = Date.now();
    this.spec = loadSpec(opts.spec, opts.cacheDir);
    this.routes = new Routes(this.spec);
    const fixtures = loadJson(opts.fixtures).resources;
    this.fixtures = fixtures;
    this.webhooks = new Webhooks(opts.webhookSecret, newId, log);
    this.state = new State(fixtures, this.webhooks);
    this.violations = [];
    this.violationSeq = 0; // each violation's seq: the harness asks for those after a test's start
    this.reset();
    this.loadMs = Date.now() - t0;
    this.handlers = this.apiHandlers();
  }

  reset() {
    this.state.reset();
    this.webhooks.reset();
    this.requests = [];
    this.idem = new Map();
    this.faults = [];
  }

  violation(v) {
    this.violations.push({ seq: ++this.violationSeq, at: new Date().toISOString(), ...v });
    if (this.violations.length > MAX_VIOLATIONS) this.violations.shift();
    log(`violation: ${v.method} ${v.path}: ${v.message}`);
  }

  // ---- the Stripe API -------------------------------------------------------------------

  apiHandlers() {
    const s = this.state;
    const get = (object, param, what) => (c) => {
      const id = c.pathParams[param];
      const o = s.get(id, object);
      return o ? { status: 200, body: o } : missing(what || object, id, param);
    };
    const q = (c) => c.params;
    return {
      'POST /v1/accounts': (c) => s.createAccount(c.params, c),
      'GET /v1/accounts': (c) => s.list('account', '/v1/accounts', q(c)),
      'GET /v1/accounts/{account}': get('account', 'account'),
      'POST /v1/accounts/{account}': (c) => s.updateAccount(c.pathParams.account, c.params, c),
      'DELETE /v1/accounts/{account}': (c) => {
        const a = s.get(c.pathParams.account, 'account');
        if (!a) return missing('account', c.pathParams.account, 'account');
        s.objects.delete(a.id);
        return { status: 200, body: { id: a.id, object: 'account', deleted: true } };
      },
      'POST /v1/account_links': (c) => s.accountLink(c.params),
      'POST /v1/payment_intents': (c) => s.createPaymentIntent(c.params, c),
      'GET /v1/payment_intents': (c) => s.list('payment_intent', '/v1/payment_intents', q(c)),
      'GET /v1/payment_intents/{intent}': get('payment_intent', 'intent'),
      'GET /v1/payment_intents/search': (c) => this.search('payment_intent', '/v1/payment_intents/search', c),
      'POST /v1/payment_intents/{intent}': (c) => s.updatePaymentIntent(c.pathParams.intent, c.params),
      'POST /v1/payment_intents/{intent}/cancel': (c) => s.cancelPaymentIntent(c.pathParams.intent, c.params, c),
      'GET /v1/charges': (c) => s.list('charge', '/v1/charges', q(c), (o) =>
        (!c.params.payment_intent || o.payment_intent === c.params.payment_intent) &&
        (!c.params.transfer_group || o.transfer_group === c.params.transfer_group)),
      'GET /v1/charges/{charge}': get('charge', 'charge'),
      'POST /v1/transfers': (c) => s.createTransfer(c.params, c),
      'GET /v1/transfers': (c) => s.list('transfer', '/v1/transfers', q(c), (o) =>
        (!c.params.destination || o.destination === c.params.destination) &&
        (!c.params.transfer_group || o.transfer_group === c.params.transfer_group)),
      'GET /v1/transfers/{transfer}': get('transfer', 'transfer'),
      'POST /v1/transfers/{id}/reversals': (c) => s.reverseTransfer(c.pathParams.id, c.params, c),
      'GET /v1/transfers/{id}/reversals': (c) => {
        if (!s.get(c.pathParams.id, 'transfer')) return missing('transfer', c.pathParams.id, 'id');
        return s.list('transfer_reversal', `/v1/transfers/${c.pathParams.id}/reversals`, q(c), (o) => o.transfer === c.pathParams.id);
      },
      'GET /v1/transfers/{transfer}/reversals/{id}': (c) => {
        const r = s.get(c.pathParams.id, 'transfer_reversal');
        return r && r.transfer === c.pathParams.transfer ? { status: 200, body: r } : missing('transfer reversal', c.pathParams.id, 'id');
      },
      'POST /v1/refunds': (c) => s.createRefund(c.params, c),
      'GET /v1/refunds': (c) => s.list('refund', '/v1/refunds', q(c), (o) =>
        (!c.params.charge || o.charge === c.params.charge) && (!c.params.payment_intent || o.payment_intent === c.params.payment_intent)),
      'GET /v1/refunds/{refund}': get('refund', 'refund'),
      'GET /v1/disputes': (c) => s.list('dispute', '/v1/disputes', q(c), (o) =>
        (!c.params.charge || o.charge === c.params.charge) && (!c.params.payment_intent || o.payment_intent === c.params.payment_intent)),
      'GET /v1/disputes/{dispute}': get('dispute', 'dispute'),
      'POST /v1/disputes/{dispute}': (c) => {
        const d = s.get(c.pathParams.dispute, 'dispute');
        if (!d) return missing('dispute', c.pathParams.dispute, 'dispute');
        if (c.params.metadata !== undefined) d.metadata = { ...d.metadata, ...(c.params.metadata || {}) };
        return { status: 200, body: d };
      },
      'POST /v1/disputes/{dispute}/close': (c) => s.closeDispute(c.pathParams.dispute, 'lost', c),
      'GET /v1/balance_transactions': (c) => s.list('balance_transaction', '/v1/balance_transactions', q(c), (o) =>
        (!c.params.type || o.type === c.params.type) && (!c.params.source || o.source === c.params.source) &&
        (!c.params.currency || o.currency === c.params.currency) && (!c.params.payout || false)),
      'GET /v1/balance_transactions/{id}': get('balance_transaction', 'id'),
      'GET /v1/balance': () => {
        const by = {};
        for (const t of s.all('balance_transaction')) by[t.currency] = (by[t.currency] || 0) + t.net;
        const amounts = Object.entries(by).map(([currency, amount]) => ({ amount, currency, source_types: { card: amount } }));
        return { status: 200, body: { object: 'balance', livemode: false, available: [], pending: amounts, connect_reserved: [] } };
      },
      'GET /v1/events': (c) => {
        const evs = this.webhooks.list({ type: c.params.type }).map((e) => { const { deliveries, ...ev } = e; return ev; });
        const limit = Math.min(Math.max(c.params.limit || 10, 1), 100);
        return { status: 200, body: { object: 'list', data: evs.reverse().slice(0, limit), has_more: evs.length > limit, url: '/v1/events' } };
      },
      'GET /v1/events/{id}': (c) => {
        const e = this.webhooks.get(c.pathParams.id);
        return e ? { status: 200, body: e } : missing('event', c.pathParams.id, 'id');
      },
    };
  }

  // Stripe's search query language, the part the double understands: clauses
  // field:'value' joined by AND, field one of metadata['key'], status, currency, customer,
  // amount (number). Other queries are answered 400 and recorded as violations (so a test
  // shows what the double would need). Unlike Stripe (up to a minute late), results are
  // current at once.
  search(object, url, c) {
    const q = String(c.params.query || '');
    const clauses = q.split(/\s+AND\s+/);
    const preds = [];
    for (const cl of clauses) {
      const m = /^\s*(metadata\['([^'\\]+)'\]|status|currency|customer|amount):(?:'((?:[^'\\]|\\.)*)'|(\d+))\s*$/.exec(cl);
      if (!m) return { status: 400, violation: `search query the double does not understand: ${q}`, body: invalid(`Invalid search query: ${q}`, 'query').body };
      const val = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4];
      if (m[2] !== undefined) preds.push((o) => o.metadata && o.metadata[m[2]] === val);
      else preds.push((o) => String(o[m[1]]) === val);
    }
    const items = this.state.all(object).filter((o) => preds.every((f) => f(o))).reverse();
    const limit = Math.min(Math.max(c.params.limit || 10, 1), 100);
    return { status: 200, body: { object: 'search_result', data: items.slice(0, limit), has_more: items.length > limit, next_page: null, url } };
  }

  // A valid request to an operation the double does not model: the fixture of its answer's type.
  generic(op, pathParams) {
    const res = answerResource(this.spec, op);
    if (res && res.startsWith('list:')) return { status: 200, body: { object: 'list', data: [], has_more: false, url: '' } };
    const fx = res && this.fixtures[res];
    if (!fx) return err(404, 'invalid_request_error', 'The Stripe double does not model this operation.', { code: 'resource_missing' });
    const body = JSON.parse(JSON.stringify(fx));
    const ids = Object.values(pathParams);
    if (ids.length && body.id) body.id = ids[ids.length - 1];
    return { status: 200, body };
  }

  async api(req, res, url, raw) {
    const requestId = req.doubleRequestId = newId('req');
    const method = req.method;
    const p = url.pathname;
    const key = req.headers['idempotency-key'];
    const account = req.headers['stripe-account'];
    const entry = {
      request_id: requestId, at: new Date().toISOString(), method, path: p, idempotency_key: key || null,
      stripe_account: account || null, stripe_version: req.headers['stripe-version'] || null, params: null,
      status: 0, replayed: false, fault: null,
    };
    this.requests.push(entry);
    if (this.requests.length > MAX_REQUESTS_LOG) this.requests.shift();
    // r.text: the answer as first serialized (a replay sends those bytes, not the object now)
    const send = (r, headers = {}) => {
      entry.status = r.status;
      const body = r.text !== undefined ? r.text : JSON.stringify(r.body, null, 2);
      if (res.destroyed) return;
      res.writeHead(r.status, {
        'Content-Type': 'application/json', 'Request-Id': requestId, 'Stripe-Version': API_VERSION,
        ...(key ? { 'Idempotency-Key': key } : {}), ...headers, 'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
    };
    const violated = (message, param) => {
      this.violation({ request_id: requestId, method, path: p, message, param: param || null, params: entry.params });
    };

    const auth = req.headers.authorization || '';
    if (auth !== `Bearer ${this.opts.secretKey}`) {
      return send(err(401, 'invalid_request_error', auth ? 'Invalid API Key provided.' : 'You did not provide an API key.'));
    }
    const route = this.routes.match(method, p);
    if (!route) {
      violated(`Unrecognized request URL (${method}: ${p})`);
      return send(err(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${p}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`));
    }
    const form = parseForm(method === 'POST' ? raw : url.search.slice(1));
    if (method !== 'POST' && raw.length) form.error ||= 'a GET or DELETE carries its parameters in the query string, not a body';
    if (method === 'POST' && raw.length && !/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
      form.error ||= `Content-Type must be application/x-www-form-urlencoded, not ${req.headers['content-type']}`;
    }
    entry.params = form.params || null;
    if (form.error) {
      violated(form.error);
      return send(invalid(form.error));
    }
    let params;
    try {
      params = checkRequest(method, route.op, form.params, route.pathParams);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      violated(e.message, e.param);
      return send(invalid(e.message, e.param || undefined, e.code));
    }
    if (req.headers['stripe-version'] !== API_VERSION) violated(`Stripe-Version is ${req.headers['stripe-version'] || 'missing'}, not ${API_VERSION}`);
    if (method === 'POST' && !key) violated('a POST without Idempotency-Key (chorus sends one on every POST)');
    if (key && (key.length > 255)) {
      violated('Idempotency-Key longer than 255 characters');
      return send(invalid('Idempotency-Key must be at most 255 characters.'));
    }

    const fault = this.takeFault(method, p);
    if (fault) entry.fault = { ...fault, count: undefined };
    if (fault && fault.crash) { // the harness's own test of the path below
      const e = new Error('a crash injected by a fault (crash: true)');
      e.injected = true;
      throw e;
    }
    if (fault && fault.status && !fault.after_effect) return send(this.faultAnswer(fault.status)); // before any effect: nothing stored

    // Idempotency (POST only, as Stripe): scoped per connected account.
    const idemKey = method === 'POST' && key ? `${account || ''}\n${key}` : null;
    const fingerprint = `${method} ${p} ${canonical(form.params)}`;
    if (idemKey) {
      const rec = this.idem.get(idemKey);
      if (rec && rec.fingerprint !== fingerprint) {
        return send(err(400, 'idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`));
      }
      if (rec && rec.inflight) {
        return send(err(409, 'idempotency_error', 'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.'));
      }
      if (rec) {
        entry.replayed = true;
        return send(rec.answer, { ...rec.headers, 'Idempotent-Replayed': 'true', 'Original-Request': rec.requestId });
      }
      this.idem.set(idemKey, { fingerprint, inflight: true, requestId });
      while (this.idem.size > MAX_IDEMPOTENCY_KEYS) this.idem.delete(this.idem.keys().next().value);
    }
    if (fault && fault.timeout_ms && !fault.after_effect) await sleep(fault.timeout_ms); // in flight: same key → 409

    const ctx = { params, pathParams: route.pathParams, requestId, idempotencyKey: key, account };
    const h = this.handlers[`${method} ${route.tpl}`];
    let answer;
    this.state.scope = account || '';
    try {
      answer = h ? h(ctx) : this.generic(route.op, route.pathParams);
      if (answer.violation) violated(answer.violation);
      if (answer.status === 200 && params.expand) answer = { status: 200, body: this.state.expand(answer.body, params.expand) };
    } catch (e) {
      log(`BUG ${method} ${p}: ${e.stack}`);
      this.violation({ request_id: requestId, method, path: p, message: `the double failed: ${e.message}`, kind: 'double_bug' });
      answer = err(500, 'api_error', 'The Stripe double failed on this request (a bug of the double).');
    } finally {
      this.state.scope = undefined; // control endpoints and webhooks see everything
    }
    if (!h) entry.generic = true;
    // As Stripe: the first result of an endpoint that started executing is saved for the key
    // (24 h; POST /_double/idempotency/expire forgets keys), a 500 after the effect included:
    // a retry gets that 500 again, with Stripe-Should-Retry: false (the outcome must be
    // looked up: GET /v1/transfers?transfer_group=, /v1/payment_intents/search, ...).
    const first = fault && fault.status ? this.faultAnswer(fault.status) : answer;
    const saved = { status: first.status, text: JSON.stringify(first.body, null, 2) };
    if (idemKey) {
      const headers = fault && fault.status ? { 'Stripe-Should-Retry': 'false' } : {};
      this.idem.set(idemKey, { fingerprint, inflight: false, requestId, answer: saved, headers });
    }

    if (fault && fault.status) return send(saved); // after the effect
    if (fault && fault.timeout_ms && fault.after_effect) await sleep(fault.timeout_ms);
    return send(saved);
  }

  faultAnswer(status) {
    if (status === 429) return err(429, 'invalid_request_error', 'Too many requests hit the API too quickly.', { code: 'rate_limit' });
    return err(status, 'api_error', 'An unknown error occurred (injected by the Stripe double).');
  }

  takeFault(method, p) {
    for (const f of this.faults) {
      if (f.count > 0 && (!f.method || f.method === method) && p.startsWith(f.path_prefix)) {
        f.count--;
        f.used = (f.used || 0) + 1;
        return f;
      }
    }
    return null;
  }

  addFault(b) {
    const f = {
      method: b.method ? String(b.method).toUpperCase() : null,
      path_prefix: b.path_prefix,
      status: b.status === undefined ? null : b.status,
      timeout_ms: b.timeout_ms === undefined ? null : b.timeout_ms,
      count: b.count === undefined ? 1 : b.count,
      after_effect: !!b.after_effect,
      crash: !!b.crash, // the double throws outside its handlers (tests the harness's BUG check)
    };
    if (typeof f.path_prefix !== 'string' || !f.path_prefix.startsWith('/v1')) throw new Error('path_prefix must start with /v1');
    if (f.status !== null && ![429, 500, 502, 503].includes(f.status)) throw new Error('status must be 429, 500, 502 or 503');
    if (f.timeout_ms !== null && !(Number.isInteger(f.timeout_ms) && f.timeout_ms > 0 && f.timeout_ms <= MAX_FAULT_TIMEOUT_MS)) {
      throw new Error(`timeout_ms must be 1..${MAX_FAULT_TIMEOUT_MS}`);
    }
    if (!f.crash && (f.status === null) === (f.timeout_ms === null)) throw new Error('give either status or timeout_ms');
    if (!Number.isInteger(f.count) || f.count < 1 || f.count > 1000) throw new Error('count must be 1..1000');
    if (this.faults.length >= MAX_FAULTS) throw new Error(`at most ${MAX_FAULTS} faults`);
    this.faults.push(f);
    return f;
  }

  // ---- control endpoints ------------------------------------------------------------------

  control(method, p, url, body) {
    const s = this.state;
    let m;
    const ok = (b) => ({ status: 200, body: b });
    if (method === 'GET' && p === '/_double/health') return ok({ ok: true, load_ms: this.loadMs });
    if (method === 'POST' && p === '/_double/reset') {
      this.reset();
      return ok({ ok: true });
    }
    if (method === 'POST' && p === '/_double/webhooks') return ok(this.webhooks.configure(body));
    if (method === 'GET' && p === '/_double/webhooks') return ok(this.webhooks.status());
    if (method === 'POST' && p === '/_double/webhooks/flush') return ok({ flushed: this.webhooks.flush() });
    if (method === 'POST' && p === '/_double/webhooks/redeliver') return ok({ queued: this.webhooks.redeliver(!!body.all) });
    if (method === 'GET' && p === '/_double/events') return ok({ data: this.webhooks.list({ type: url.searchParams.get('type') }) });
    if (method === 'POST' && (m = /^\/_double\/payment_intents\/([^/]+)\/(succeed|fail|process)$/.exec(p))) {
      if (m[2] === 'process') return s.processPaymentIntent(m[1]);
      return m[2] === 'succeed' ? s.succeedPaymentIntent(m[1]) : s.failPaymentIntent(m[1]);
    }
    if (method === 'POST' && (m = /^\/_double\/accounts\/([^/]+)\/(enable|require)$/.exec(p))) {
      return s.setAccountEnabled(m[1], m[2] === 'enable', body);
    }
    if (method === 'POST' && (m = /^\/_double\/charges\/([^/]+)\/dispute$/.exec(p))) return s.dispute(m[1], body);
    if (method === 'POST' && (m = /^\/_double\/disputes\/([^/]+)\/close$/.exec(p))) return s.closeDispute(m[1], body.status, null);
    if (method === 'POST' && p === '/_double/balance_transactions') return s.unowned(body);
    if (method === 'POST' && p === '/_double/faults') return ok(this.addFault(body));
    if (method === 'GET' && p === '/_double/faults') return ok({ data: this.faults });
    if (method === 'DELETE' && p === '/_double/faults') {
      this.faults = [];
      return ok({ ok: true });
    }
    if (method === 'GET' && p === '/_double/requests') {
      const pre = url.searchParams.get('path_prefix') || '';
      const meth = url.searchParams.get('method');
      return ok({ data: this.requests.filter((r) => r.path.startsWith(pre) && (!meth || r.method === meth)) });
    }
    if (method === 'GET' && p === '/_double/violations') {
      const after = Number(url.searchParams.get('after') || 0);
      return ok({ data: this.violations.filter((v) => v.seq > after), last_seq: this.violationSeq });
    }
    if (method === 'POST' && p === '/_double/violations/take') {
      // forgets and returns the violations of the given requests only (a test that breaks
      // the spec on purpose takes its own, never another test's)
      if (!Array.isArray(body.request_ids)) throw new Error('request_ids must be a list');
      const ids = new Set(body.request_ids.map(String));
      const data = this.violations.filter((v) => ids.has(v.request_id));
      this.violations = this.violations.filter((v) => !ids.has(v.request_id));
      return ok({ data });
    }
    if (method === 'POST' && p === '/_double/idempotency/expire') {
      // what Stripe does after 24 h: the keys are forgotten (all, or those named in body.keys)
      const only = Array.isArray(body.keys) ? new Set(body.keys.map(String)) : null;
      let expired = 0;
      for (const [k, rec] of this.idem) {
        if (rec.inflight || (only && !only.has(k.slice(k.indexOf('\n') + 1)))) continue;
        this.idem.delete(k);
        expired++;
      }
      return ok({ expired });
    }
    if (method === 'GET' && p === '/_double/summary') return ok(s.summary(url.searchParams.get('transfer_group')));
    if (method === 'GET' && (m = /^\/_double\/objects\/([^/]+)$/.exec(p))) {
      const o = s.objects.get(m[1]);
      return o ? ok(o) : missing('object', m[1]);
    }
    return err(404, 'invalid_request_error', `no control endpoint ${method} ${p}`);
  }

  async handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    const chunks = [];
    let size = 0;
    for await (const c of req) {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' });
        res.end(JSON.stringify({ error: { type: 'invalid_request_error', message: 'Request body too large.' } }));
        req.destroy();
        return;
      }
      chunks.push(c);
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    if (url.pathname.startsWith('/v1/')) return this.api(req, res, url, raw);
    let r;
    try {
      const body = raw.length ? JSON.parse(raw) : {};
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('the body must be a JSON object');
      r = this.control(req.method, url.pathname, url, body);
    } catch (e) {
      r = err(400, 'invalid_request_error', e.message);
    }
    const text = JSON.stringify(r.body);
    res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function main() {
  const opts = args();
  const d = new Double(opts);
  const server = http.createServer((req, res) => {
    d.handle(req, res).catch((e) => {
      log(`${e.injected ? 'injected crash' : 'BUG'}: ${e.stack}`); // the harness fails the session on BUG in the log
      d.violation({ request_id: req.doubleRequestId || null, method: req.method, path: req.url, message: `the double failed: ${e.message}`, kind: 'double_bug' });
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json', ...(req.doubleRequestId ? { 'Request-Id': req.doubleRequestId } : {}) });
      res.end('{"error":{"type":"api_error","message":"stripe double failure"}}');
    });
  });
  server.keepAliveTimeout = 30000;
  server.listen(opts.port, '127.0.0.1', () => {
    const port = server.address().port;
    if (opts.portFile) {
      fs.writeFileSync(`${opts.portFile}.tmp`, `${port}\n`);
      fs.renameSync(`${opts.portFile}.tmp`, opts.portFile);
    }
    log(`listening on 127.0.0.1:${port} (spec and fixtures loaded in ${d.loadMs} ms)`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setTimeout(() => {}, 1 << 30).unref();
}

if (require.main === module) main();

module.exports = { Double };
