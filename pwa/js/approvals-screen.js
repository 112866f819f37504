// Approvals: for a manager, the team's waiting requests, each with what changed since the deal was
// last approved, decided with a comment in two taps (offline too); for a rep, their own requests.

import * as store from './store.js';
import { change } from './sync.js';
import { people as cachedPeople } from './rules.js';
import {
  askedAt, changedSince, decidedAt, dealMovedOn, dealValues, describeChanges, personName, showValue, statusNotice, statusOf,
} from './approval-status.js';
import { h, clear, drawer, empty, field, fmtWhen, cap } from './ui.js';

const WORD = { pending: 'Waiting', approved: 'Approved', rejected: 'Rejected', stale: 'Stale: the deal changed, ask again' };

function when(ms) {
  return ms ? fmtWhen(new Date(ms).toISOString()) : '';
}

function dealNow(deal) {
  const v = dealValues(deal.v);
  return ['stage', 'amount', 'discount', 'expected_close']
    .map((f) => `${{ stage: 'Stage', amount: 'Amount', discount: 'Discount', expected_close: 'Close' }[f]} ${showValue(f, v[f], v.currency)}`)
    .join(' · ');
}

export async function render(main, { id: focusId }, ctx) {
  const manager = ctx.me.role !== 'rep';
  const result = h('p', { id: 'approvals-result', class: 'result', role: 'status', tabindex: '-1' });
  const body = h('div', { id: 'approvals' });
  clear(main, h('h1', { text: manager ? 'Approvals' : 'Your approval requests' }), result, body);
  const comments = new Map(); // what the manager typed, kept across redraws

  const decide = async (approval, title, status) => {
    const comment = (comments.get(approval.id) || '').trim();
    try {
      await change('approval', approval.id, { status, decided_by: ctx.me.id, comment });
    } catch (error) {
      result.textContent = error.message;
      result.className = 'result error';
      return;
    }
    comments.delete(approval.id);
    result.className = 'result';
    result.textContent = `${status === 'approved' ? 'Approved' : 'Rejected'}: ${title}. Saved on this phone; ${navigator.onLine ? 'sending it now' : 'it is sent when the phone is back online'}.`;
    await draw();
    result.focus();
  };

  const card = (a, deal, all, people) => {
    const title = deal ? deal.v.title : 'A deal not on this phone yet';
    const currency = dealValues(deal?.v).currency;
    const headingId = `approval-${a.id}`;
    const asked = describeChanges(a.v.changes, currency);
    const since = deal ? changedSince(deal, a, all.filter((x) => x.v.deal === a.v.deal)) : null;
    const comment = h('textarea', { name: 'comment', rows: 2, text: comments.get(a.id) || '' });
    comment.addEventListener('input', () => comments.set(a.id, comment.value));
    const button = (status, label, cls) => h('button', {
      type: 'button', class: cls, 'aria-describedby': headingId, onclick: () => decide(a, title, status),
    }, label);
    return h('article', { class: 'card approval-card', 'data-approval': a.id, 'aria-labelledby': headingId },
      h('h3', { id: headingId, tabindex: '-1' }, deal ? h('a', { href: `#/deals/${deal.id}`, text: title }) : title),
      h('p', {}, h('strong', { text: `${cap(personName(people, a.v.owner, ctx.me))} asks${asked ? ` for ${asked}` : ''}` }), a.v.reason ? `: “${a.v.reason}”` : '.'),
      h('p', { class: 'muted small', text: `Asked ${when(askedAt(a))}${a.dirty && !a.held ? ' · not sent yet' : ''}` }),
      deal ? h('p', { class: 'small deal-now', text: `Now: ${dealNow(deal)}` }) : null,
      since ? h('div', { class: 'since' },
        h('h4', { text: since.since === 'approved' ? `Changed since last approved (${when(decidedAt(since.approved))})` : 'Changed since the request' }),
        since.diffs.length
          ? h('ul', { class: 'changes' }, since.diffs.map((d) => h('li', { 'data-field': d.field },
            `${d.label}: ${showValue(d.field, d.before, currency)} → `, h('strong', { text: showValue(d.field, d.after, currency) }))))
          : h('p', { class: 'muted', text: 'Nothing: amount, discount, stage and close date are as they were.' })) : null,
      deal && dealMovedOn(deal, a) ? h('p', { class: 'notice warn moved', text: 'The deal changed after this request: a decision now comes back stale, and the rep is asked to ask again.' }) : null,
      field(`Comment for ${personName(people, a.v.owner)} (optional)`, comment),
      h('div', { class: 'actions wrap' }, button('approved', 'Approve', 'approve'), button('rejected', 'Reject', 'danger')));
  };

  const draw = drawer(body, async (show) => {
    const [approvals, deals, people] = await Promise.all([store.listEntries('approval'), store.listEntries('deal'), cachedPeople()]);
    const dealsById = new Map(deals.map((d) => [d.id, d]));
    const mine = manager ? approvals : approvals.filter((a) => a.v.owner === ctx.me.id);
    const focused = focusId ? approvals.find((a) => a.id === focusId) : null;
    const parts = [];
    if (focusId && !focused) {
      parts.push(h('p', { class: 'notice info', text: 'This request is not on this phone yet: it arrives with the next sync.' }));
    }
    if (manager) {
      const waiting = mine.filter((a) => statusOf(a) === 'pending' && a.v.deal).sort((a, b) => askedAt(a) - askedAt(b));
      // The one a notification opened comes first.
      if (focused) waiting.sort((a, b) => (b.id === focusId) - (a.id === focusId));
      if (focused && statusOf(focused) !== 'pending') {
        const deal = dealsById.get(focused.v.deal);
        parts.push(h('section', { 'aria-labelledby': 'approvals-focused' },
          h('h2', { id: 'approvals-focused', text: deal ? deal.v.title : 'This request' }),
          statusNotice(focused, { people, me: ctx.me, currency: dealValues(deal?.v).currency })));
      }
      parts.push(h('section', { 'aria-labelledby': 'approvals-waiting' },
        h('h2', { id: 'approvals-waiting', class: 'section-title', text: `Waiting for a decision (${waiting.length})` }),
        waiting.length ? h('div', { class: 'cards' }, waiting.map((a) => card(a, dealsById.get(a.v.deal), approvals, people))) : empty('Nothing waiting: every request is decided.')));
    }
    const decided = mine.filter((a) => statusOf(a) !== 'pending' || !manager)
      .sort((a, b) => (decidedAt(b) || askedAt(b)) - (decidedAt(a) || askedAt(a))).slice(0, 20);
    parts.push(h('section', { 'aria-labelledby': 'approvals-decided' },
      h('h2', { id: 'approvals-decided', text: manager ? 'Decided lately' : 'Your requests' }),
      decided.length ? h('ul', { class: 'list', id: 'approvals-decided-list' }, decided.map((a) => {
        const deal = dealsById.get(a.v.deal);
        const status = statusOf(a);
        const who = status === 'pending' ? '' : ` by ${personName(people, a.v.decided_by, ctx.me)}`;
        return h('li', { class: 'row', 'data-approval': a.id, 'data-status': status },
          h(deal ? 'a' : 'span', { class: 'row-main', href: deal ? `#/deals/${deal.id}` : undefined },
            h('strong', { text: deal ? deal.v.title : 'A deal' }),
            h('span', { class: 'muted', text: [`${WORD[status]}${who}`, describeChanges(a.v.changes, dealValues(deal?.v).currency), a.v.comment ? `“${a.v.comment}”` : '', a.dirty && !a.held ? 'not sent yet' : ''].filter(Boolean).join(' · ') })));
      })) : empty(manager ? 'No decisions yet.' : 'You have not asked for any approval yet. Ask from a deal.')));
    show(parts);
  });
  await draw();
  return {
    refresh: () => draw({ unlessTyping: true }),
    focus: focusId ? () => {
      const target = body.querySelector(`[data-approval="${focusId}"] h3`) || main.querySelector('h1');
      target?.setAttribute('tabindex', '-1');
      target?.focus();
    } : undefined,
  };
}
