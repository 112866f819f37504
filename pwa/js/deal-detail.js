// One deal: stage, amount and dates; move it along, edit it, see what happened.

import * as store from './store.js';
import { navigate } from './app.js';
import { change, newId } from './sync.js';
import { recordForm } from './record-form.js';
import { heldNotice, conflictNotice, pendingNote, timeline, deleteButton, newRecordDefaults } from './record-parts.js';
import { h, clear, fmtMoney, fmtDate, cap, STAGES, typing, toast, drawer } from './ui.js';
import { checkDealEdit, blockedFields, bound, REQUESTABLE, people as cachedPeople } from './rules.js';
import { askPanel } from './approval-ask.js';
import { approvalsOf, statusOf, statusNotice } from './approval-status.js';
import { dealHistory } from './deal-history.js';

// The rules a rep's deal edit must keep: null when it may be saved, or the request form for the
// parts that need a manager (`rest`, what the rules allow, is saved first when the rep asks).
async function ruleStop({ dealId, base, changes, me, extra, onAsked, onCancel }) {
  const written = Object.keys(changes);
  const errors = await checkDealEdit(me, { ...base, ...changes }, written);
  if (!errors.length) return null;
  const blocked = blockedFields(errors, written);
  const asked = Object.fromEntries(blocked.map((k) => [k, changes[k]]));
  const rest = Object.fromEntries(Object.entries(changes).filter(([k]) => !blocked.includes(k)));
  const panel = askPanel({
    dealId, changes: asked, me, currency: base.currency, messages: errors.map(([, message]) => message),
    before: async () => {
      if (extra) Object.assign(rest, extra);
      if (Object.keys(rest).length) await change('deal', dealId, rest);
    },
    onAsked, onCancel,
  });
  return { fields: errors.map(([f]) => f), panel };
}

function asked(id) {
  toast('Asked for approval: your manager gets it with the next sync.');
  return id;
}

export async function render(main, { id, params }, ctx) {
  const companies = await store.listEntries('company');
  if (id === 'new') {
    const fresh = newId();
    clear(main, h('h1', { text: 'New deal' }),
      recordForm({ type: 'deal', id: fresh, entry: null, refs: { company: companies }, extra: newRecordDefaults('deal', ctx.me), defaults: { stage: 'lead', currency: 'EUR', company: params.company }, onSaved: () => navigate(`#/deals/${fresh}`), onCancel: () => history.back(),
        guard: ({ changes }) => ruleStop({ dealId: fresh, base: { stage: 'lead', currency: 'EUR' }, changes, me: ctx.me, extra: newRecordDefaults('deal', ctx.me), onAsked: (x) => { asked(x); navigate(`#/deals/${fresh}`); } }) }));
    return null;
  }
  let editing = false;
  // A request being written: { changes, messages, reason }; from the pipeline it comes in the address.
  const fromParams = Object.fromEntries(REQUESTABLE.filter((k) => params[k] !== undefined).map((k) => [k, params[k]]));
  let asking = params.ask && bound(ctx.me) ? { changes: fromParams, messages: null, reason: '' } : null;
  const trail = dealHistory(id);
  const draw = drawer(main, async (show) => {
    const entry = await store.getEntry('deal', id);
    if (!entry || entry.deleted) {
      show(h('h1', { text: 'Deal not found' }), h('a', { href: '#/deals', text: 'Back to deals' }));
      return;
    }
    const v = entry.v;
    if (editing || entry.held) {
      editing = true;
      const done = () => { editing = false; draw(); };
      show(h('h1', { text: `Edit ${v.title}` }), heldNotice(entry),
        recordForm({ type: 'deal', id, entry, refs: { company: companies }, onSaved: done, onCancel: done,
          guard: ({ changes }) => ruleStop({ dealId: id, base: entry.v, changes, me: ctx.me, onAsked: (x) => { asked(x); done(); } }) }));
      return;
    }
    const [approvals, people] = await Promise.all([approvalsOf(id), cachedPeople()]);
    trail.update({ currency: v.currency || 'EUR', approvals: new Map(approvals.map((a) => [a.id, a])) });
    const latest = approvals[approvals.length - 1];
    const rep = bound(ctx.me);
    if (asking && asking.messages === null) {
      // Asked for from the pipeline: say which rule the move would break.
      const written = Object.keys(asking.changes);
      asking.messages = (await checkDealEdit(ctx.me, { ...v, ...asking.changes }, written)).map(([, m]) => m);
    }
    const moveTo = async (s) => {
      if (s === v.stage) return;
      const errors = await checkDealEdit(ctx.me, { ...v, stage: s }, ['stage']);
      if (errors.length) {
        asking = { changes: { stage: s }, messages: errors.map(([, m]) => m), reason: asking?.reason || '' };
        await draw();
        main.querySelector('.ask-panel textarea')?.focus();
        return;
      }
      await change('deal', id, { stage: s });
    };
    const approvalSection = (rep || latest) ? h('section', { 'aria-labelledby': 'approval-heading', id: 'deal-approval' },
      h('h2', { id: 'approval-heading', text: 'Approval' }),
      latest ? statusNotice(latest, {
        people, me: ctx.me, currency: v.currency,
        onAskAgain: rep ? async () => { asking = { changes: { ...(latest.v.changes || {}) }, messages: [], reason: latest.v.reason || '' }; await draw(); main.querySelector('.ask-panel textarea')?.focus(); } : null,
        reviewHref: rep ? null : `#/approvals/${latest.id}`,
      }) : null,
      asking ? askPanel({
        dealId: id, changes: asking.changes, messages: asking.messages, me: ctx.me, currency: v.currency, reason: asking.reason, level: 3,
        onReason: (text) => { if (asking) asking.reason = text; },
        onAsked: (x) => { asked(x); asking = null; draw(); },
        onCancel: () => { asking = null; draw(); },
      }) : null,
      rep && !asking && (!latest || !['pending', 'stale'].includes(statusOf(latest)))
        ? h('div', { class: 'actions wrap' }, h('button', { type: 'button', class: 'secondary', onclick: async () => { asking = { changes: {}, messages: [], reason: '' }; await draw(); main.querySelector('.ask-panel textarea')?.focus(); } }, 'Ask for approval'))
        : null) : null;
    const company = companies.find((c) => c.id === v.company);
    const facts = [
      ['Stage', cap(v.stage)],
      ['Amount', fmtMoney(v.amount, v.currency)],
      ['Discount', v.discount && v.discount !== '0' ? `${v.discount} %` : 'none'],
      ['Expected close', fmtDate(v.expected_close) || 'not set'],
      ['Probability', v.probability === null || v.probability === undefined ? 'not set' : `${v.probability} %`],
      ['Company', company ? h('a', { href: `#/companies/${company.id}`, text: company.v.name }) : 'none'],
    ];
    show(
      h('p', {}, h('a', { href: '#/deals', text: '‹ Deals' })),
      h('h1', { text: v.title }), conflictNotice(entry), pendingNote(entry),
      h('dl', { class: 'facts' }, facts.flatMap(([k, val]) => [h('dt', { text: k }), h('dd', {}, val)])),
      h('fieldset', { class: 'stages' }, h('legend', { text: 'Move to stage' }),
        h('div', { class: 'actions wrap' }, STAGES.map((s) => h('button', {
          type: 'button', class: s === v.stage ? 'current' : 'secondary', 'aria-pressed': String(s === v.stage),
          onclick: () => moveTo(s),
        }, cap(s))))),
      approvalSection,
      v.notes ? h('p', { class: 'notes', text: v.notes }) : null,
      h('div', { class: 'actions wrap' },
        h('a', { class: 'button secondary', href: `#/visit?deal=${id}${v.company ? `&company=${v.company}` : ''}` }, 'Log visit'),
        h('button', { type: 'button', class: 'secondary', onclick: () => { editing = true; draw(); } }, 'Edit deal'),
        deleteButton('deal', id, v.title, () => navigate('#/deals'))),
      trail.element,
      await timeline(id));
  });
  await draw();
  return { refresh: () => { if (!editing && !typing(main)) { draw({ unlessTyping: true }); trail.load(); } } };
}
