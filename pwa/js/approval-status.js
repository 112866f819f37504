// Approvals of a deal read from the phone's own data: the latest one's status, what was asked,
// and what changed since the deal was last approved. Used by the deal and by the Approvals screen.

import * as store from './store.js';
import { compare, Order } from './sync-core.js';
import { h, fmtMoney, fmtDate, fmtWhen, cap } from './ui.js';

// What a deal shows for a field never written: the server's defaults.
const DEAL_DEFAULTS = { stage: 'lead', currency: 'EUR', discount: '0', amount: null, expected_close: null };
export const COMPARED = ['amount', 'discount', 'stage', 'expected_close'];
const LABELS = { stage: 'Stage', amount: 'Amount', discount: 'Discount', expected_close: 'Expected close' };

export function dealValues(v = {}) {
  const out = { ...v };
  for (const [k, value] of Object.entries(DEAL_DEFAULTS)) if (out[k] === undefined) out[k] = value;
  return out;
}

export function statusOf(approval) {
  return approval.v.status || 'pending';
}

// When the writer's clock says a field was last written (ms), or 0.
function writtenAt(entry, name) {
  const siblings = entry.state?.fields?.[name] || [];
  return siblings.reduce((t, s) => Math.max(t, s[3]), 0);
}

/** When it was asked: the `deal` field is written once, by the request. */
export function askedAt(approval) {
  return writtenAt(approval, 'deal');
}

export function decidedAt(approval) {
  return statusOf(approval) === 'pending' ? 0 : writtenAt(approval, 'status');
}

/** The deal's approvals on this phone, oldest request first. */
export async function approvalsOf(dealId) {
  const related = await store.entriesByRef(dealId);
  return related.filter((e) => e.type === 'approval' && e.v.deal === dealId).sort((a, b) => askedAt(a) - askedAt(b));
}

/** The approved request decided last, leaving out `except`. */
export function lastApproved(approvals, except) {
  const approved = approvals.filter((a) => a.id !== except && statusOf(a) === 'approved');
  approved.sort((a, b) => decidedAt(a) - decidedAt(b));
  return approved[approved.length - 1] || null;
}

/**
 * What the deal looks like against what was last agreed: the last approved request's snapshot
 * with its changes applied, or else this request's snapshot. A list of {field, label, before,
 * after} for every compared field that differs, and where the baseline came from.
 */
export function changedSince(deal, approval, approvals) {
  const approved = lastApproved(approvals, approval.id);
  const source = approved || approval;
  const base = { ...(source.v.snapshot || {}), ...(approved ? approved.v.changes || {} : {}) };
  const now = dealValues(deal?.v);
  const diffs = [];
  for (const field of COMPARED) {
    if (!(field in base)) continue;
    const before = base[field] ?? null;
    const after = now[field] ?? null;
    if (!same(field, before, after)) diffs.push({ field, label: LABELS[field], before, after });
  }
  return { diffs, since: approved ? 'approved' : 'asked', approved };
}

function same(field, a, b) {
  if (a === null || b === null) return a === b;
  if (field === 'amount' || field === 'discount') return Number(a) === Number(b);
  return String(a) === String(b);
}

/** Whether the deal has edits the request did not know of: a decision would then end stale. */
export function dealMovedOn(deal, approval) {
  if (!deal) return false;
  const order = compare(deal.state.vv, approval.v.deal_vv || {});
  return order === Order.AFTER || order === Order.CONCURRENT;
}

export function showValue(field, value, currency = 'EUR') {
  if (value === null || value === undefined || value === '') return 'none';
  if (field === 'amount') return fmtMoney(value, currency);
  if (field === 'discount') return `${value} %`;
  if (field === 'stage') return cap(value);
  if (field === 'expected_close') return fmtDate(value);
  return String(value);
}

/** "Discount 25 %, Stage Won": what a request asks for. */
export function describeChanges(changes, currency) {
  const parts = Object.entries(changes || {}).map(([field, value]) => `${LABELS[field] || field} ${showValue(field, value, currency)}`);
  return parts.join(', ');
}

export function personName(people, id, me) {
  if (id === undefined || id === null) return 'someone';
  if (me && id === me.id) return 'you';
  return people.get(id)?.name || `user ${id}`;
}

const WORDS = {
  pending: 'Waiting for a manager',
  approved: 'Approved',
  rejected: 'Rejected',
  stale: 'The deal changed after you asked: ask again',
};

/**
 * The latest request of a deal, in words: `onAskAgain` makes the "Ask again" button of a stale
 * request; `reviewHref` links a manager to the decision.
 */
export function statusNotice(approval, { people, me, currency, onAskAgain, reviewHref }) {
  const status = statusOf(approval);
  const asked = describeChanges(approval.v.changes, currency);
  const by = personName(people, approval.v.owner, me);
  const decider = personName(people, approval.v.decided_by, me);
  const tone = status === 'approved' ? 'ok' : status === 'pending' ? 'info' : status === 'rejected' ? 'bad' : 'warn';
  const lines = [h('p', {}, h('strong', { class: 'approval-state', text: status === 'stale' ? WORDS.stale : `${WORDS[status]}.` }))];
  if (status === 'approved' || status === 'rejected') {
    lines.push(h('p', { text: `${cap(decider)} decided${decidedAt(approval) ? ` on ${fmtWhen(new Date(decidedAt(approval)).toISOString())}` : ''}.` }));
    if (approval.v.comment) lines.push(h('p', { class: 'quote', text: `“${approval.v.comment}”` }));
  }
  lines.push(h('p', { class: 'muted small', text: `${cap(by)} asked${asked ? ` for ${asked}` : ''}${askedAt(approval) ? ` on ${fmtWhen(new Date(askedAt(approval)).toISOString())}` : ''}${approval.v.reason ? `: “${approval.v.reason}”` : '.'}` }));
  if (approval.dirty && !approval.held) lines.push(h('p', { class: 'muted small', text: 'Saved on this phone; waiting to be sent.' }));
  if (approval.held) lines.push(h('p', { class: 'error', text: `The server refused this: ${(approval.errors || []).map((e) => e.message).join('; ')}` }));
  const actions = [];
  if (status === 'stale' && onAskAgain) actions.push(h('button', { type: 'button', onclick: onAskAgain }, 'Ask again'));
  if (status === 'pending' && reviewHref) actions.push(h('a', { class: 'button', href: reviewHref }, 'Review the request'));
  return h('div', { class: `notice approval ${tone}`, id: 'approval-status', 'data-status': status }, lines,
    actions.length ? h('div', { class: 'actions wrap' }, actions) : null);
}
