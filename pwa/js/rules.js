// The approval rules a rep's deal edit must keep, the same as the server's
// (server/domain/approvals/services.py rule_errors), and the team's rules and people cached for offline.

import * as store from './store.js';
import { api } from './api.js';

// The server's defaults, for a phone that has not fetched its team's rules yet.
export const DEFAULT_RULES = Object.freeze({ max_discount: '15', won_amount_limit: '50000' });
// Deal fields an approval may ask to change.
export const REQUESTABLE = ['stage', 'amount', 'discount', 'expected_close'];

// -- exact decimal strings -------------------------------------------------------

const DECIMAL = /^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$/;

// [sign, integer digits, fraction digits] without leading or trailing zeros, or null for "not a number".
function parts(value) {
  if (value === null || value === undefined || value === '') return null;
  const m = DECIMAL.exec(String(value));
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
  const int = m[2].replace(/^0+/, '');
  const frac = (m[3] || '').replace(/0+$/, '');
  const sign = !int && !frac ? 1 : m[1] === '-' ? -1 : 1;
  return [sign, int, frac];
}

// Compares two parsed decimals exactly, as Python's Decimal does: -1, 0 or 1.
function compareParts(a, b) {
  const [sa, ia, fa] = a;
  const [sb, ib, fb] = b;
  if (sa !== sb) return sa < sb ? -1 : 1;
  let order = 0;
  if (ia.length !== ib.length) order = ia.length < ib.length ? -1 : 1;
  else if (ia !== ib) order = ia < ib ? -1 : 1;
  else {
    const width = Math.max(fa.length, fb.length);
    const x = fa.padEnd(width, '0');
    const y = fb.padEnd(width, '0');
    order = x === y ? 0 : x < y ? -1 : 1;
  }
  return order * sa;
}

// Two decimal strings compared exactly; null when either is not a number.
export function compareDecimal(a, b) {
  const x = parts(a);
  const y = parts(b);
  return x && y ? compareParts(x, y) : null;
}

// A decimal string in its plainest form, like the server's messages: "50000.00" -> "50000".
export function plain(value) {
  const p = parts(value);
  if (!p) return String(value ?? '');
  const [sign, int, frac] = p;
  return `${sign < 0 ? '-' : ''}${int || '0'}${frac ? `.${frac}` : ''}`;
}

const ZERO = [1, '', ''];

// -- the rules --------------------------------------------------------------------

/**
 * What a rep's write of the fields `written` would break, the deal's visible values becoming
 * `values`: a list of [field, message], empty when the write is allowed.
 */
export function ruleErrors(values, written, rules = DEFAULT_RULES) {
  const errors = [];
  const names = new Set(written);
  const maxDiscount = parts(rules.max_discount) || parts(DEFAULT_RULES.max_discount);
  const wonLimit = parts(rules.won_amount_limit) || parts(DEFAULT_RULES.won_amount_limit);
  const discount = parts(values.discount) || ZERO;
  if (names.has('discount') && compareParts(discount, maxDiscount) > 0) {
    errors.push(['discount', `a discount over ${plain(rules.max_discount)} % needs a manager's approval: ask for one`]);
  }
  const amount = parts(values.amount) || ZERO;
  if ((names.has('stage') || names.has('amount')) && values.stage === 'won' && compareParts(amount, wonLimit) > 0) {
    const field = names.has('stage') ? 'stage' : 'amount';
    errors.push([field, `closing a deal over ${plain(rules.won_amount_limit)} as won needs a manager's approval: ask for one`]);
  }
  return errors;
}

/** The written fields an approval has to ask for, given the errors of `ruleErrors`. */
export function blockedFields(errors, written) {
  const names = new Set(written);
  const out = new Set();
  for (const [field] of errors) {
    if (field === 'discount') out.add('discount');
    else for (const name of ['stage', 'amount']) if (names.has(name)) out.add(name);
  }
  return [...out];
}

/** Whether the rules apply to this person at all: managers and admins are trusted with deals. */
export function bound(me) {
  return me?.role === 'rep';
}

// -- cached from the server ----------------------------------------------------------

/** The rules of `team` as last fetched, or the server's defaults. */
export async function rulesFor(team) {
  const cached = (await store.getMeta('rules')) || [];
  const mine = cached.find((r) => r.team === team) || (team === undefined || team === null ? cached[0] : null);
  return mine ? { max_discount: mine.max_discount, won_amount_limit: mine.won_amount_limit } : { ...DEFAULT_RULES };
}

/** A rep's deal edit checked against the team's cached rules: [] when it may be saved. */
export async function checkDealEdit(me, values, written) {
  if (!bound(me)) return [];
  return ruleErrors(values, written, await rulesFor(me.team));
}

/** The team's people by id, as last fetched. */
export async function people() {
  const cached = (await store.getMeta('users')) || [];
  return new Map(cached.map((u) => [u.id, u]));
}

/** Fetches the rules and the team's people for offline use; sync calls it after each pull. */
export async function refreshReference() {
  const [rules, users] = await Promise.all([api('GET', '/api/v1/rules'), api('GET', '/api/v1/users')]);
  await store.setMeta('rules', rules.items);
  await store.setMeta('users', users.items);
}
