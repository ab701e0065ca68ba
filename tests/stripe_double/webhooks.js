'use strict';
// Events and their delivery: every event made is kept (bounded) with its deliveries; when a
// webhook URL is set, events are POSTed to it one at a time in order, signed as Stripe signs
// them (Stripe-Signature: t=<unix s>,v1=<HMAC-SHA256 hex of "<t>.<body>"> per secret).
// duplicate: each event is delivered twice; hold: events queue until flush, reverse: the
// flush delivers newest first; concurrent: as Stripe, deliveries do not wait for each other
// (both copies of a duplicate at once, and up to MAX_PARALLEL events together), so a
// receiver's dedupe races can be tested. A non-2xx answer or a network error is retried a few times
// with a short backoff.
const crypto = require('crypto');
const http = require('http');

const MAX_EVENTS = 10000;          // events kept for GET /_double/events (oldest forgotten)
const MAX_QUEUE = 10000;           // events waiting for delivery (more are dropped and counted)
const DELIVERY_RETRIES = 3;        // after the first attempt (default; `retries` 0..10 in the settings)
const DELIVERY_RETRIES_MAX = 10;
const DELIVERY_BACKOFF_MS = 100;   // doubled per retry
const DELIVERY_TIMEOUT_MS = 10000; // one attempt's deadline
const MAX_PARALLEL = 8;            // events delivered at once with concurrent: true

function sign(secret, t, payload) {
  return crypto.createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex');
}

function signatureHeader(secrets, t, payload) {
  return [`t=${t}`, ...secrets.map((s) => `v1=${sign(s, t, payload)}`)].join(',');
}

class Webhooks {
  constructor(defaultSecret, ids, log) {
    this.defaultSecret = defaultSecret;
    this.ids = ids;
    this.log = log;
    this.reset();
  }

  reset() {
    this.generation = (this.generation || 0) + 1; // deliveries of an earlier generation stop
    this.events = new Map();
    this.config = null;
    this.queue = [];
    this.held = [];
    this.dropped = 0;
    this.delivering = false;
  }

  configure(c) {
    if (!c || typeof c.url !== 'string' || !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(c.url)) {
      throw new Error('url must be an http:// URL on loopback');
    }
    let secrets = c.secret === undefined ? [this.defaultSecret] : c.secret;
    if (typeof secrets === 'string') secrets = [secrets];
    if (!Array.isArray(secrets) || !secrets.length || !secrets.every((s) => typeof s === 'string' && s)) {
      throw new Error('secret must be a string or a non-empty list of strings');
    }
    const off = c.timestamp_offset_s === undefined ? 0 : c.timestamp_offset_s;
    if (!Number.isInteger(off)) throw new Error('timestamp_offset_s must be an integer');
    const retries = c.retries === undefined ? DELIVERY_RETRIES : c.retries;
    if (!Number.isInteger(retries) || retries < 0 || retries > DELIVERY_RETRIES_MAX) {
      throw new Error(`retries must be 0..${DELIVERY_RETRIES_MAX}`);
    }
    this.config = {
      url: c.url, secrets, duplicate: !!c.duplicate, reverse: !!c.reverse, hold: !!c.hold, timestamp_offset_s: off,
      retries, concurrent: !!c.concurrent,
    };
    return this.status();
  }

  status() {
    return {
      config: this.config && { ...this.config, secrets: undefined, nsecrets: this.config.secrets.length },
      queued: this.queue.length, held: this.held.length, delivering: this.delivering, dropped: this.dropped,
    };
  }

  // Makes an event about obj and delivers it (or queues it). extra: {account, previous_attributes, request}.
  emit(type, obj, extra = {}) {
    const ev = {
      id: this.ids('evt'),
      object: 'event',
      account: extra.account,
      api_version: '2023-08-16',
      created: Math.floor(Date.now() / 1000),
      data: { object: JSON.parse(JSON.stringify(obj)) },
      livemode: false,
      pending_webhooks: this.config ? 1 : 0,
      request: extra.request || { id: null, idempotency_key: null },
      type,
    };
    if (extra.previous_attributes) ev.data.previous_attributes = extra.previous_attributes;
    if (ev.account === undefined) delete ev.account;
    this.events.set(ev.id, { event: ev, deliveries: [] });
    while (this.events.size > MAX_EVENTS) this.events.delete(this.events.keys().next().value);
    if (this.config) {
      const target = this.config.hold ? this.held : this.queue;
      if (target.length >= MAX_QUEUE) this.dropped++;
      else target.push(ev.id);
      this.pump();
    }
    return ev;
  }

  // Queues again every event none of whose deliveries got a 2xx (all: every event), oldest
  // first: what Stripe's own retries over the following hours would bring, e.g. after the
  // receiver was down.
  redeliver(all) {
    if (!this.config) throw new Error('no webhook URL set');
    let n = 0;
    for (const [id, rec] of this.events) {
      if (all || !rec.deliveries.some((d) => d.status >= 200 && d.status < 300)) {
        if (this.queue.length >= MAX_QUEUE) {
          this.dropped++;
          continue;
        }
        this.queue.push(id);
        n++;
      }
    }
    this.pump();
    return n;
  }

  flush() {
    const batch = this.config && this.config.reverse ? this.held.slice().reverse() : this.held.slice();
    this.held = [];
    for (const id of batch) this.queue.push(id);
    this.pump();
    return batch.length;
  }

  async pump() {
    if (this.delivering) return;
    this.delivering = true;
    const gen = this.generation;
    try {
      while (this.queue.length && gen === this.generation) {
        if (this.config && this.config.concurrent) {
          const jobs = [];
          for (const id of this.queue.splice(0, MAX_PARALLEL)) {
            const rec = this.events.get(id);
            if (!rec) continue;
            for (let i = 0; i < (this.config.duplicate ? 2 : 1); i++) jobs.push(this.deliver(rec, gen));
          }
          await Promise.all(jobs);
          continue;
        }
        const id = this.queue.shift();
        const rec = this.events.get(id);
        if (!rec || !this.config) continue;
        const times = this.config.duplicate ? 2 : 1;
        for (let i = 0; i < times && gen === this.generation; i++) await this.deliver(rec, gen);
      }
    } finally {
      if (gen === this.generation) this.delivering = false;
    }
  }

  async deliver(rec, gen) {
    const cfg = this.config;
    const payload = JSON.stringify(rec.event, null, 2);
    for (let attempt = 0; attempt <= cfg.retries && gen === this.generation; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, DELIVERY_BACKOFF_MS << (attempt - 1)));
      const t = Math.floor(Date.now() / 1000) + cfg.timestamp_offset_s;
      const d = { at: new Date().toISOString(), attempt: attempt + 1, status: 0, error: null, body: null };
      rec.deliveries.push(d);
      try {
        const r = await post(cfg.url, payload, { 'Stripe-Signature': signatureHeader(cfg.secrets, t, payload) });
        d.status = r.status;
        d.body = r.body.slice(0, 500);
      } catch (e) {
        d.error = e.message;
      }
      if (d.status >= 200 && d.status < 300) return;
    }
    this.log(`webhook ${rec.event.id} ${rec.event.type}: not delivered after ${cfg.retries + 1} attempts`);
  }

  list(filter) {
    const out = [];
    for (const rec of this.events.values()) {
      if (filter.type && rec.event.type !== filter.type) continue;
      out.push({ ...rec.event, deliveries: rec.deliveries });
    }
    return out;
  }

  get(id) {
    const rec = this.events.get(id);
    return rec && rec.event;
  }
}

function post(url, payload, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      timeout: DELIVERY_TIMEOUT_MS,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', ...headers, 'Content-Length': Buffer.byteLength(payload) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { if (body.length < 4096) body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

module.exports = { Webhooks, sign, signatureHeader };
