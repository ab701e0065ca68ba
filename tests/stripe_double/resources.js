'use strict';
// The state of the double: the Stripe objects the marketplace uses, made from the fixtures'
// shapes (fixtures3.2023-09-12.json, the pair of spec3.yaml) and kept consistent with each
// other: accounts (Express), account links, payment intents with their charge and its balance
// transaction (Stripe's fee: 2.9 % + 30), transfers (source_transaction, transfer_group) and
// their reversals, refunds, disputes (funds withdrawn and reinstated), balance transactions,
// events. API handlers answer {status, body}; Stripe's rules the market relies on are
// enforced (amounts left to refund or transfer, a transfer needs an enabled destination, a
// succeeded intent cannot be cancelled); everything else is accepted.
const crypto = require('crypto');

const MAX_OBJECTS = 50000;       // objects kept (all types together); the oldest are forgotten
const FEE_PERCENT_BPS = 290;     // Stripe's card fee: 2.9 % ...
const FEE_FIXED = 30;            // ... + 30 minor units
const DISPUTE_FEE = 1500;        // withdrawn with a dispute, not given back
const LIST_LIMIT_MAX = 100;

const now = () => Math.floor(Date.now() / 1000);
const clone = (o) => JSON.parse(JSON.stringify(o));

function newId(prefix) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(24);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return `${prefix}_${s}`;
}

function err(status, type, message, extra = {}) {
  return { status, body: { error: { type, message, ...extra } } };
}
const missing = (what, id, param) => err(404, 'invalid_request_error', `No such ${what}: '${id}'`, { code: 'resource_missing', param });
const invalid = (message, param, code) => err(400, 'invalid_request_error', message, { param, code });

class State {
  constructor(fixtures, webhooks) {
    this.fx = fixtures;
    this.webhooks = webhooks;
    this.reset();
  }

  reset() {
    this.objects = new Map(); // id → object (every type)
    this.owner = new Map();   // id → the connected account it was made on ('' = the platform)
    this.scope = undefined;   // the request's Stripe-Account ('' none); undefined: see all (control)
  }

  // As Stripe: an object made with Stripe-Account lives on that account and is seen only
  // with the same header; platform objects are not seen with it. Accounts are platform
  // objects seen from everywhere.
  visible(o) {
    if (this.scope === undefined || o.object === 'account') return true;
    return (this.owner.get(o.id) || '') === this.scope;
  }

  put(obj) {
    if (!this.owner.has(obj.id) && this.scope) this.owner.set(obj.id, this.scope);
    this.objects.delete(obj.id);
    this.objects.set(obj.id, obj);
    while (this.objects.size > MAX_OBJECTS) {
      const old = this.objects.keys().next().value;
      this.objects.delete(old);
      this.owner.delete(old);
    }
    return obj;
  }

  get(id, object) {
    const o = this.objects.get(id);
    return o && (!object || o.object === object) && this.visible(o) ? o : null;
  }

  all(object) {
    const out = [];
    for (const o of this.objects.values()) if (o.object === object && this.visible(o)) out.push(o);
    return out;
  }

  shape(name, fields) {
    const base = clone(this.fx[name] || {});
    return Object.assign(base, { livemode: false, created: now() }, fields);
  }

  emit(type, obj, ctx, extra = {}) {
    return this.webhooks.emit(type, obj, { request: ctx && { id: ctx.requestId, idempotency_key: ctx.idempotencyKey || null }, ...extra });
  }

  // ---- balance transactions ------------------------------------------------------------

  txn(type, amount, currency, source, fee = 0, extra = {}) {
    const t = this.shape('balance_transaction', {
      id: newId('txn'),
      amount,
      available_on: now() + 2 * 86400,
      currency,
      description: extra.description || null,
      exchange_rate: null,
      fee,
      fee_details: fee ? [{ amount: fee, application: null, currency, description: extra.fee_description || 'Stripe processing fees', type: 'stripe_fee' }] : [],
      net: amount - fee,
      reporting_category: extra.reporting_category || type,
      source,
      status: 'pending',
      type,
    });
    return this.put(t);
  }

  // Money that moves without an order (the tests' POST /_double/balance_transactions): a
  // payout of the platform's balance to its bank (source po_...) or a fee Stripe bills
  // (stripe_fee, no source). amount is signed, as Stripe's (a payout is negative).
  unowned(b) {
    const types = { payout: 'po', payout_cancel: 'po', payout_failure: 'po', stripe_fee: null, stripe_fx_fee: null, tax_fee: null };
    if (!(b.type in types) || !Number.isInteger(b.amount) || !b.amount || typeof (b.currency || 'usd') !== 'string') {
      return { status: 400, body: { error: `type one of ${Object.keys(types).join(', ')} and a non-zero integer amount` } };
    }
    const src = types[b.type] ? newId(types[b.type]) : null;
    const t = this.txn(b.type, b.amount, b.currency || 'usd', src, 0, { description: b.type === 'payout' ? 'STRIPE PAYOUT' : 'Connect fees' });
    return { status: 200, body: t };
  }

  // ---- accounts --------------------------------------------------------------------------

  createAccount(p, ctx) {
    const type = p.type || 'express';
    const due = ['business_profile.url', 'external_account', 'tos_acceptance.date', 'tos_acceptance.ip'];
    const caps = {};
    for (const [k, v] of Object.entries(p.capabilities || {})) if (v && v.requested) caps[k] = 'inactive';
    const a = this.shape('account', {
      id: newId('acct'),
      type,
      email: p.email || null,
      country: p.country || 'US',
      default_currency: p.default_currency || 'usd',
      business_type: p.business_type || null,
      capabilities: caps,
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      metadata: p.metadata || {},
    });
    a.requirements = { ...a.requirements, currently_due: due.slice(), eventually_due: due.slice(), past_due: [], disabled_reason: 'requirements.past_due' };
    a.external_accounts = { object: 'list', data: [], has_more: false, url: `/v1/accounts/${a.id}/external_accounts` };
    a.settings = a.settings || {};
    a.settings.payouts = { debit_negative_balances: true, schedule: { delay_days: 2, interval: 'daily' }, statement_descriptor: null };
    this.applyAccountParams(a, p);
    this.put(a);
    return { status: 200, body: a };
  }

  applyAccountParams(a, p) {
    const sched = p.settings && p.settings.payouts && p.settings.payouts.schedule;
    if (sched) {
      const s = a.settings.payouts.schedule;
      if (sched.interval !== undefined) s.interval = sched.interval;
      if (sched.delay_days !== undefined) s.delay_days = sched.delay_days === 'minimum' ? 2 : sched.delay_days;
      if (sched.weekly_anchor !== undefined) s.weekly_anchor = sched.weekly_anchor;
      if (sched.monthly_anchor !== undefined) s.monthly_anchor = sched.monthly_anchor;
      if (s.interval !== 'weekly') delete s.weekly_anchor;
      if (s.interval !== 'monthly') delete s.monthly_anchor;
      if (s.interval === 'weekly' && !s.weekly_anchor) s.weekly_anchor = 'monday';
      if (s.interval === 'monthly' && !s.monthly_anchor) s.monthly_anchor = 1;
    }
    if (p.metadata !== undefined) a.metadata = mergeMetadata(a.metadata, p.metadata);
    if (p.email !== undefined) a.email = p.email;
    if (p.business_profile) a.business_profile = { ...a.business_profile, ...p.business_profile };
    for (const [k, v] of Object.entries(p.capabilities || {})) {
      if (v && v.requested && !a.capabilities[k]) a.capabilities[k] = a.charges_enabled ? 'active' : 'inactive';
    }
  }

  updateAccount(id, p, ctx) {
    const a = this.get(id, 'account');
    if (!a) return missing('account', id, 'account');
    const before = clone(a);
    this.applyAccountParams(a, p);
    this.emit('account.updated', a, ctx, { account: a.id, previous_attributes: diff(before, a) });
    return { status: 200, body: a };
  }

  setAccountEnabled(id, enabled, req = {}) {
    const a = this.get(id, 'account');
    if (!a) return missing('account', id, 'account');
    const before = clone(a);
    a.charges_enabled = enabled;
    a.payouts_enabled = enabled;
    a.details_submitted = a.details_submitted || enabled;
    for (const k of Object.keys(a.capabilities)) a.capabilities[k] = enabled ? 'active' : 'inactive';
    if (enabled) {
      if (!Object.keys(a.capabilities).length) a.capabilities = { card_payments: 'active', transfers: 'active' };
      a.requirements = { ...a.requirements, currently_due: [], eventually_due: [], past_due: [], pending_verification: [], disabled_reason: null, current_deadline: null };
    } else {
      const due = Array.isArray(req.currently_due) ? req.currently_due.map(String) : ['individual.verification.document'];
      a.requirements = { ...a.requirements, currently_due: due, eventually_due: due.slice(), past_due: due.slice(), disabled_reason: req.disabled_reason || 'requirements.past_due' };
    }
    this.emit('account.updated', a, null, { account: a.id, previous_attributes: diff(before, a) });
    return { status: 200, body: a };
  }

  accountLink(p) {
    const a = this.get(p.account, 'account');
    if (!a) return missing('account', p.account, 'account');
    const l = this.shape('account_link', {
      url: `https://connect.stripe.com/setup/e/${a.id}/${newId('link').slice(5)}`,
      expires_at: now() + 300,
    });
    return { status: 200, body: l };
  }

  // ---- payment intents and charges -----------------------------------------------------

  createPaymentIntent(p, ctx) {
    if (p.amount < 1) return invalid('This value must be greater than or equal to 1.', 'amount', 'amount_too_small');
    const id = newId('pi');
    const pi = this.shape('payment_intent', {
      id,
      amount: p.amount,
      currency: p.currency,
      client_secret: `${id}_secret_${newId('s').slice(2)}`,
      status: 'requires_payment_method',
      canceled_at: null,
      capture_method: p.capture_method || 'automatic',
      description: p.description || null,
      metadata: p.metadata || {},
      transfer_group: p.transfer_group || null,
      on_behalf_of: p.on_behalf_of || null,
      payment_method_types: p.payment_method_types || ['card'],
      automatic_payment_methods: p.automatic_payment_methods ? { allow_redirects: p.automatic_payment_methods.allow_redirects || 'always', enabled: !!p.automatic_payment_methods.enabled } : null,
      receipt_email: p.receipt_email || null,
      latest_charge: null,
    });
    this.put(pi);
    this.emit('payment_intent.created', pi, ctx);
    return { status: 200, body: pi };
  }

  updatePaymentIntent(id, p) {
    const pi = this.get(id, 'payment_intent');
    if (!pi) return missing('payment_intent', id, 'intent');
    if (['succeeded', 'canceled', 'processing'].includes(pi.status)) {
      return invalid(`This PaymentIntent's status is ${pi.status} and cannot be updated.`, undefined, 'payment_intent_unexpected_state');
    }
    for (const k of ['amount', 'currency', 'description', 'transfer_group', 'receipt_email']) if (p[k] !== undefined) pi[k] = p[k];
    if (p.metadata !== undefined) pi.metadata = mergeMetadata(pi.metadata, p.metadata);
    return { status: 200, body: pi };
  }

  cancelPaymentIntent(id, p, ctx) {
    const pi = this.get(id, 'payment_intent');
    if (!pi) return missing('payment_intent', id, 'intent');
    if (pi.status === 'succeeded' || pi.status === 'canceled') {
      return invalid(`You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
        undefined, 'payment_intent_unexpected_state');
    }
    pi.status = 'canceled';
    pi.canceled_at = now();
    pi.cancellation_reason = p.cancellation_reason || null;
    this.emit('payment_intent.canceled', pi, ctx);
    return { status: 200, body: pi };
  }

  succeedPaymentIntent(id) {
    const pi = this.get(id, 'payment_intent');
    if (!pi) return missing('payment_intent', id, 'intent');
    if (pi.status === 'succeeded' || pi.status === 'canceled') {
      return invalid(`This PaymentIntent's status is ${pi.status}.`, undefined, 'payment_intent_unexpected_state');
    }
    const fee = Math.round((pi.amount * FEE_PERCENT_BPS) / 10000) + FEE_FIXED;
    const chId = newId('ch');
    const txn = this.txn('charge', pi.amount, pi.currency, chId, fee, { description: pi.description });
    const ch = this.shape('charge', {
      id: chId,
      amount: pi.amount,
      amount_captured: pi.amount,
      amount_refunded: 0,
      balance_transaction: txn.id,
      captured: true,
      currency: pi.currency,
      description: pi.description,
      disputed: false,
      metadata: clone(pi.metadata),
      paid: true,
      payment_intent: pi.id,
      refunded: false,
      status: 'succeeded',
      transfer_group: pi.transfer_group,
      on_behalf_of: pi.on_behalf_of,
    });
    ch.refunds = { object: 'list', data: [], has_more: false, total_count: 0, url: `/v1/charges/${chId}/refunds` };
    this.put(ch);
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    pi.latest_charge = chId;
    pi.payment_method = newId('pm');
    pi.last_payment_error = null;
    this.emit('payment_intent.succeeded', pi, null);
    this.emit('charge.succeeded', ch, null);
    return { status: 200, body: pi };
  }

  // The buyer confirmed with an asynchronous method (a bank debit): `processing` until it
  // succeeds or fails, as Stripe; a processing PaymentIntent can still be canceled only by
  // Stripe's rules for it (the double refuses nothing more than Stripe does).
  processPaymentIntent(id) {
    const pi = this.get(id, 'payment_intent');
    if (!pi) return missing('payment_intent', id, 'intent');
    if (pi.status === 'succeeded' || pi.status === 'canceled' || pi.status === 'processing') {
      return invalid(`This PaymentIntent's status is ${pi.status}.`, undefined, 'payment_intent_unexpected_state');
    }
    pi.status = 'processing';
    this.emit('payment_intent.processing', pi, null);
    return { status: 200, body: pi };
  }

  failPaymentIntent(id) {
    const pi = this.get(id, 'payment_intent');
    if (!pi) return missing('payment_intent', id, 'intent');
    if (pi.status === 'succeeded' || pi.status === 'canceled') {
      return invalid(`This PaymentIntent's status is ${pi.status}.`, undefined, 'payment_intent_unexpected_state');
    }
    pi.status = 'requires_payment_method';
    pi.last_payment_error = { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.', type: 'card_error' };
    this.emit('payment_intent.payment_failed', pi, null);
    return { status: 200, body: pi };
  }

  // What of a charge may still be transferred: amount − refunded − transferred with it as source.
  transferable(ch) {
    let used = ch.amount_refunded;
    for (const t of this.all('transfer')) if (t.source_transaction === ch.id) used += t.amount - t.amount_reversed;
    return ch.amount - used;
  }

  // ---- transfers ---------------------------------------------------------------------------

  createTransfer(p, ctx) {
    const dest = this.get(p.destination, 'account');
    if (!dest) return missing('destination', p.destination, 'destination');
    if (dest.capabilities.transfers !== 'active') {
      return invalid('Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'destination', 'insufficient_capabilities_for_transfer');
    }
    if (p.amount < 1) return invalid('This value must be greater than or equal to 1.', 'amount', 'amount_too_small');
    let source = null;
    if (p.source_transaction) {
      source = this.get(p.source_transaction, 'charge');
      if (!source) return missing('charge', p.source_transaction, 'source_transaction');
      if (source.currency !== p.currency) {
        return invalid(`The currency of source_transaction's balance transaction (${source.currency}) must be the same as the transfer currency (${p.currency})`, 'currency');
      }
      const left = this.transferable(source);
      if (p.amount > left) {
        return invalid(`Insufficient funds from source_transaction ${source.id}: ${left} left to transfer, ${p.amount} asked`, 'amount', 'balance_insufficient');
      }
    }
    const id = newId('tr');
    const txn = this.txn('transfer', -p.amount, p.currency, id, 0, { reporting_category: 'transfer' });
    const tr = this.shape('transfer', {
      id,
      amount: p.amount,
      amount_reversed: 0,
      balance_transaction: txn.id,
      currency: p.currency,
      description: p.description || null,
      destination: dest.id,
      destination_payment: newId('py'),
      metadata: p.metadata || {},
      reversed: false,
      source_transaction: source ? source.id : null,
      source_type: 'card',
      transfer_group: p.transfer_group || null,
    });
    tr.reversals = { object: 'list', data: [], has_more: false, total_count: 0, url: `/v1/transfers/${id}/reversals` };
    this.put(tr);
    this.emit('transfer.created', tr, ctx);
    return { status: 200, body: tr };
  }

  reverseTransfer(id, p, ctx) {
    const tr = this.get(id, 'transfer');
    if (!tr) return missing('transfer', id, 'id');
    const left = tr.amount - tr.amount_reversed;
    const amount = p.amount === undefined ? left : p.amount;
    if (left <= 0) return invalid(`Transfer ${id} has already been fully reversed.`, undefined, 'transfer_already_reversed');
    if (amount < 1 || amount > left) {
      return invalid(`Reversal amount ${amount} is greater than the amount left on the transfer (${left}).`, 'amount', 'amount_too_large');
    }
    const rid = newId('trr');
    const txn = this.txn('transfer_refund', amount, tr.currency, rid, 0, { reporting_category: 'transfer_reversal' });
    const r = this.shape('transfer_reversal', {
      id: rid, amount, balance_transaction: txn.id, currency: tr.currency, metadata: p.metadata || {}, transfer: tr.id,
    });
    this.put(r);
    tr.amount_reversed += amount;
    tr.reversed = tr.amount_reversed === tr.amount;
    tr.reversals.data.unshift(r);
    tr.reversals.total_count = tr.reversals.data.length;
    this.emit('transfer.reversed', tr, ctx);
    return { status: 200, body: r };
  }

  // ---- refunds -------------------------------------------------------------------------------

  createRefund(p, ctx) {
    let ch;
    if (p.charge) {
      ch = this.get(p.charge, 'charge');
      if (!ch) return missing('charge', p.charge, 'charge');
    } else if (p.payment_intent) {
      const pi = this.get(p.payment_intent, 'payment_intent');
      if (!pi) return missing('payment_intent', p.payment_intent, 'payment_intent');
      ch = pi.latest_charge && this.get(pi.latest_charge, 'charge');
      if (!ch) {
        return invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, 'payment_intent', 'charge_not_refundable');
      }
    } else {
      return invalid('One of the following params should be provided for this request: payment_intent or charge.', undefined, 'parameter_missing');
    }
    // As Stripe: a charge under an open dispute cannot be refunded (charge_disputed), nor one
    // whose dispute was lost (charged back: the money went back to the buyer through it); a
    // won dispute's charge can (its money was reinstated). Found whatever the request's
    // Stripe-Account scope (the charge's dispute is one, made by the double's control API).
    const dp = ch.disputed && [...this.objects.values()].find((d) => d.object === 'dispute' && d.charge === ch.id);
    if (dp && dp.status !== 'won') {
      const why = dp.status === 'lost' ? 'has been charged back' : 'has an open dispute';
      return invalid(`Charge ${ch.id} ${why}; cannot issue a refund.`, undefined, 'charge_disputed');
    }
    const left = ch.amount - ch.amount_refunded;
    const amount = p.amount === undefined ? left : p.amount;
    if (left <= 0) return invalid(`Charge ${ch.id} has already been refunded.`, undefined, 'charge_already_refunded');
    if (amount < 1 || amount > left) {
      return invalid(`Refund amount (${amount}) is greater than the amount left to refund (${left}).`, 'amount', 'amount_too_large');
    }
    const id = newId('re');
    const txn = this.txn('refund', -amount, ch.currency, id, 0, { reporting_category: 'refund' });
    const re = this.shape('refund', {
      id, amount, balance_transaction: txn.id, charge: ch.id, currency: ch.currency, metadata: p.metadata || {},
      payment_intent: ch.payment_intent, reason: p.reason || null, status: 'succeeded',
    });
    this.put(re);
    ch.amount_refunded += amount;
    ch.refunded = ch.amount_refunded === ch.amount;
    ch.refunds.data.unshift(re);
    ch.refunds.total_count = ch.refunds.data.length;
    this.emit('charge.refunded', ch, ctx);
    this.emit('refund.created', re, ctx);
    return { status: 200, body: re };
  }

  // ---- disputes ------------------------------------------------------------------------------

  dispute(chargeId, p) {
    const ch = this.get(chargeId, 'charge');
    if (!ch) return missing('charge', chargeId, 'charge');
    if (ch.disputed) return invalid(`Charge ${ch.id} is already disputed.`);
    const amount = Number.isInteger(p.amount) ? p.amount : ch.amount - ch.amount_refunded;
    const id = newId('dp');
    const txn = this.txn('adjustment', -amount, ch.currency, id, DISPUTE_FEE, { reporting_category: 'dispute', description: `Chargeback withdrawal for ${ch.id}`, fee_description: 'Dispute fee' });
    const dp = this.shape('dispute', {
      id, amount, charge: ch.id, currency: ch.currency, payment_intent: ch.payment_intent,
      reason: p.reason || 'fraudulent', status: 'needs_response', is_charge_refundable: false,
      balance_transactions: [clone(txn)], metadata: {},
    });
    this.put(dp);
    ch.disputed = true;
    this.emit('charge.dispute.created', dp, null);
    this.emit('charge.dispute.funds_withdrawn', dp, null);
    return { status: 200, body: dp };
  }

  closeDispute(id, outcome, ctx) {
    const dp = this.get(id, 'dispute');
    if (!dp) return missing('dispute', id, 'dispute');
    if (dp.status === 'won' || dp.status === 'lost') return invalid(`This dispute is already closed (${dp.status}).`);
    if (outcome !== 'won' && outcome !== 'lost') return invalid('status must be won or lost', 'status');
    dp.status = outcome;
    if (outcome === 'won') {
      const txn = this.txn('adjustment', dp.amount, dp.currency, dp.id, 0, { reporting_category: 'dispute_reversal', description: `Chargeback reversal for ${dp.charge}` });
      dp.balance_transactions.push(clone(txn));
      this.emit('charge.dispute.funds_reinstated', dp, ctx);
    }
    this.emit('charge.dispute.closed', dp, ctx);
    return { status: 200, body: dp };
  }

  // ---- lists, expansion ------------------------------------------------------------------------

  list(object, url, q, pred) {
    let items = this.all(object).filter(pred || (() => true));
    items = items.filter((o) => inRange(o.created, q.created));
    items.reverse(); // newest first, as Stripe lists
    if (q.starting_after) {
      const i = items.findIndex((o) => o.id === q.starting_after);
      items = i < 0 ? [] : items.slice(i + 1);
    } else if (q.ending_before) {
      const i = items.findIndex((o) => o.id === q.ending_before);
      items = i < 0 ? [] : items.slice(0, i);
    }
    const limit = Math.min(Math.max(q.limit || 10, 1), LIST_LIMIT_MAX);
    return { status: 200, body: { object: 'list', data: items.slice(0, limit), has_more: items.length > limit, url } };
  }

  expand(obj, paths) {
    if (!paths || !paths.length) return obj;
    const out = clone(obj);
    for (const p of paths) {
      const parts = String(p).replace(/^data\./, '').split('.');
      const walk = (node, i) => {
        if (!node || typeof node !== 'object' || i >= parts.length) return;
        const k = parts[i];
        const x = typeof node[k] === 'string' && this.get(node[k]);
        if (x) node[k] = clone(x);
        walk(node[k], i + 1);
      };
      if (out.object === 'list') out.data.forEach((d) => walk(d, 0));
      else walk(out, 0);
    }
    return out;
  }

  // Per transfer group: what the fault tests count (one charge, at most one transfer per order).
  summary(group) {
    const pis = this.all('payment_intent').filter((pi) => !group || pi.transfer_group === group);
    const charges = this.all('charge').filter((c) => !group || c.transfer_group === group);
    const chargeIds = new Set(charges.map((c) => c.id));
    const transfers = this.all('transfer').filter((t) => !group || t.transfer_group === group || chargeIds.has(t.source_transaction));
    const trIds = new Set(transfers.map((t) => t.id));
    const reversals = this.all('transfer_reversal').filter((r) => trIds.has(r.transfer));
    const refunds = this.all('refund').filter((r) => chargeIds.has(r.charge));
    const disputes = this.all('dispute').filter((d) => chargeIds.has(d.charge));
    const pick = (o, ...ks) => Object.fromEntries(ks.map((k) => [k, o[k]]));
    return {
      transfer_group: group || null,
      payment_intents: pis.map((pi) => pick(pi, 'id', 'amount', 'currency', 'status')),
      charges: charges.map((c) => pick(c, 'id', 'amount', 'amount_refunded', 'payment_intent', 'disputed')),
      successful_payments: pis.filter((pi) => pi.status === 'succeeded').length,
      transfers: transfers.map((t) => pick(t, 'id', 'amount', 'amount_reversed', 'destination', 'source_transaction')),
      reversals: reversals.map((r) => pick(r, 'id', 'amount', 'transfer')),
      refunds: refunds.map((r) => pick(r, 'id', 'amount', 'charge')),
      disputes: disputes.map((d) => pick(d, 'id', 'amount', 'status')),
    };
  }
}

function inRange(v, r) {
  if (r === undefined) return true;
  if (typeof r === 'number') return v === r;
  return (r.gt === undefined || v > r.gt) && (r.gte === undefined || v >= r.gte) &&
    (r.lt === undefined || v < r.lt) && (r.lte === undefined || v <= r.lte);
}

// Stripe's metadata update: "" unsets everything, a key with "" unsets that key.
function mergeMetadata(cur, upd) {
  if (upd === '') return {};
  const out = { ...cur };
  for (const [k, v] of Object.entries(upd)) {
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return out;
}

// previous_attributes of an update: the top-level fields that changed, with their old values.
function diff(before, after) {
  const out = {};
  for (const k of Object.keys(after)) if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[k] = before[k];
  return out;
}

module.exports = { State, newId, err, missing, invalid };
