'use strict';
// Stripe's form encoding, decoded: "a[b][0]=x&expand[]=y" → {a: {b: {"0": "x"}}, expand: ["y"]}.
// Values stay strings; the spec validator (spec.js) coerces them to the schema's types and
// turns objects with keys 0..n-1 into arrays where the schema wants an array.

const MAX_PAIRS = 2000;     // a form with more pairs is refused (Stripe's largest have a few hundred)
const MAX_DEPTH = 8;        // deeper nesting is refused

function decodePart(s) {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

// Splits "a[b][c]" into ["a", "b", "c"]; null when the brackets do not pair up.
function splitKey(key) {
  const open = key.indexOf('[');
  if (open < 0) return [key];
  const parts = [key.slice(0, open)];
  let rest = key.slice(open);
  while (rest.length) {
    const m = /^\[([^\[\]]*)\]/.exec(rest);
    if (!m) return null;
    parts.push(m[1]);
    rest = rest.slice(m[0].length);
  }
  return parts;
}

// Key parts that would reach Object.prototype (or read as it) in the objects built here
// or by the checker: refused.
const FORBIDDEN_PARTS = new Set(['__proto__', 'constructor', 'prototype']);

// Returns {params} or {error: message}. Objects are built without a prototype.
function parseForm(text) {
  const params = Object.create(null);
  if (!text) return { params };
  const pairs = text.split('&').filter((p) => p.length);
  if (pairs.length > MAX_PAIRS) return { error: `more than ${MAX_PAIRS} parameters` };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    let key, val;
    try {
      key = decodePart(eq < 0 ? pair : pair.slice(0, eq));
      val = eq < 0 ? '' : decodePart(pair.slice(eq + 1));
    } catch (e) {
      return { error: `invalid percent-encoding in ${JSON.stringify(pair.slice(0, 80))}` };
    }
    const parts = splitKey(key);
    if (!parts || !parts[0] || parts.length > MAX_DEPTH) return { error: `invalid parameter name ${JSON.stringify(key)}` };
    if (parts.some((k) => FORBIDDEN_PARTS.has(k))) return { error: `invalid parameter name ${JSON.stringify(key)}` };
    let node = params;
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      let k = parts[i];
      if (k === '') { // "a[]": the next index
        if (!Array.isArray(node)) return { error: `invalid parameter name ${JSON.stringify(key)}` };
        k = String(node.length);
      }
      if (Array.isArray(node)) {
        if (!/^\d+$/.test(k)) return { error: `invalid parameter name ${JSON.stringify(key)}` };
      }
      if (last) {
        if (typeof node[k] === 'object' && node[k] !== null) return { error: `parameter ${JSON.stringify(key)} given as value and as object` };
        if (typeof node[k] === 'string') return { error: `parameter ${JSON.stringify(key)} given twice` };
        node[k] = val;
      } else {
        const nextArray = parts[i + 1] === '';
        if (node[k] === undefined) node[k] = nextArray ? [] : Object.create(null);
        if (typeof node[k] !== 'object') return { error: `parameter ${JSON.stringify(key)} given as value and as object` };
        node = node[k];
      }
    }
  }
  return { params };
}

module.exports = { parseForm, splitKey };
