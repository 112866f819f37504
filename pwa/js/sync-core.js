// The record merge of shared/SYNC.md, for the phone: pure functions, no I/O, no clock.
// It must agree with the Python merge in sync/ on every case of tests/sync_vectors/.

export const DELETED = 'deleted';

const REPLICA = /^[A-Za-z0-9_-]{1,64}$/;
const FIELD = /^[a-z0-9_]{1,64}$/;

// -- JSON values -----------------------------------------------------------

// JSON text with object keys sorted: what "the same value" means across languages.
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function utf8Compare(a, b) {
  // Python compares the UTF-8 bytes; so do we, or astral characters would sort differently.
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i += 1) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

// -- version vectors -------------------------------------------------------

export const Order = Object.freeze({ BEFORE: 'before', AFTER: 'after', EQUAL: 'equal', CONCURRENT: 'concurrent' });

export function seen(vv, replica, counter) {
  return (vv[replica] || 0) >= counter;
}

export function increment(vv, replica) {
  return { ...vv, [replica]: (vv[replica] || 0) + 1 };
}

export function mergeVv(a, b) {
  const out = { ...a };
  for (const [r, c] of Object.entries(b)) if (c > (out[r] || 0)) out[r] = c;
  return out;
}

export function compare(a, b) {
  let less = false;
  let more = false;
  for (const r of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[r] || 0;
    const y = b[r] || 0;
    if (x < y) less = true;
    if (x > y) more = true;
  }
  if (less && more) return Order.CONCURRENT;
  if (less) return Order.BEFORE;
  if (more) return Order.AFTER;
  return Order.EQUAL;
}

// -- canonical form --------------------------------------------------------
// vv keys sorted without zeros, field names sorted, empty fields left out,
// siblings sorted by (replica, counter): equal states are equal JSON.

const byCode = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function pick(x, y) {
  // Honest replicas never write two siblings under one dot; if bad data holds
  // two, every replica keeps the same one: the greater (t, JSON text).
  if (x === y) return x;
  if (x[3] !== y[3]) return x[3] > y[3] ? x : y;
  return utf8Compare(canonicalJson(x[0]), canonicalJson(y[0])) >= 0 ? x : y;
}

function byDot(siblings) {
  const out = new Map();
  for (const s of siblings || []) {
    const dot = `${s[1]}\u0000${s[2]}`;
    const held = out.get(dot);
    out.set(dot, held === undefined ? s : pick(held, s));
  }
  return out;
}

function sortSiblings(list) {
  return list.sort((p, q) => byCode(p[1], q[1]) || p[2] - q[2]);
}

function make(type, id, vv, fields) {
  const canonVv = {};
  for (const r of Object.keys(vv).sort(byCode)) if (vv[r] > 0) canonVv[r] = vv[r];
  const canonFields = {};
  for (const name of Object.keys(fields).sort(byCode)) {
    const kept = sortSiblings([...byDot(fields[name]).values()]);
    if (kept.length) canonFields[name] = kept.map((s) => [s[0], s[1], s[2], s[3]]);
  }
  return { type, id, vv: canonVv, fields: canonFields };
}

// -- edits -----------------------------------------------------------------

export function newRecord(type, id) {
  return { type, id, vv: {}, fields: {} };
}

export function edit(rec, replica, changes, now) {
  const names = Object.keys(changes);
  if (!names.length) throw new Error('an edit writes at least one field');
  if (!REPLICA.test(replica)) throw new Error(`bad replica id ${replica}`);
  if (!Number.isSafeInteger(now) || now < 0) throw new Error(`bad time ${now}`);
  for (const name of names) if (!FIELD.test(name)) throw new Error(`bad field name ${name}`);
  const vv = increment(rec.vv, replica);
  const counter = vv[replica];
  const fields = { ...rec.fields };
  for (const name of names) fields[name] = [[changes[name], replica, counter, now]];
  return make(rec.type, rec.id, vv, fields);
}

// A delete writes `deleted` = the vv just before it; keeping a record writes `deleted` = null.
export function deleteRecord(rec, replica, now) {
  return edit(rec, replica, { [DELETED]: mergeVv(rec.vv, {}) }, now);
}

// -- merge -----------------------------------------------------------------

export function merge(a, b) {
  if (a.type !== b.type || a.id !== b.id) throw new Error(`cannot merge ${a.type}/${a.id} with ${b.type}/${b.id}`);
  const fields = {};
  for (const name of new Set([...Object.keys(a.fields), ...Object.keys(b.fields)])) {
    const ours = byDot(a.fields[name]);
    const theirs = byDot(b.fields[name]);
    const kept = [];
    for (const [dot, s] of ours) {
      if (theirs.has(dot)) kept.push(pick(s, theirs.get(dot)));
      else if (!seen(b.vv, s[1], s[2])) kept.push(s);
    }
    for (const [dot, s] of theirs) {
      if (!ours.has(dot) && !seen(a.vv, s[1], s[2])) kept.push(s);
    }
    fields[name] = kept;
  }
  return make(a.type, a.id, mergeVv(a.vv, b.vv), fields);
}

// -- reading a state -------------------------------------------------------

export function visibleSibling(siblings) {
  let best = siblings[0];
  for (const s of siblings) {
    if (s[3] > best[3] || (s[3] === best[3] && (s[1] > best[1] || (s[1] === best[1] && s[2] > best[2])))) best = s;
  }
  return best;
}

export function visible(rec) {
  const out = {};
  for (const name of Object.keys(rec.fields).sort(byCode)) {
    if (rec.fields[name].length) out[name] = visibleSibling(rec.fields[name])[0];
  }
  return out;
}

function isVector(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.entries(value).every(([r, c]) => REPLICA.test(r) && Number.isSafeInteger(c) && c >= 1)
  );
}

function deletionVector(rec) {
  const sibs = rec.fields[DELETED];
  if (!sibs || !sibs.length) return null;
  const value = visibleSibling(sibs)[0];
  // Anything but a vector is malformed; read as "live" so bad data never hides a record.
  return isVector(value) ? value : null;
}

export function isDeleted(rec) {
  const vector = deletionVector(rec);
  if (vector === null) return false;
  return Object.entries(rec.fields).every(
    ([name, sibs]) => name === DELETED || sibs.every((s) => seen(vector, s[1], s[2])),
  );
}

export function conflicts(rec) {
  const out = {};
  for (const name of Object.keys(rec.fields).sort(byCode)) {
    if (rec.fields[name].length >= 2) out[name] = rec.fields[name];
  }
  return out;
}

// Deleted by one replica and edited concurrently by another: the edit keeps it alive.
export function deleteConflict(rec) {
  return deletionVector(rec) !== null && !isDeleted(rec);
}
