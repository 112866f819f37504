// One deal: stage, amount and dates; move it along, edit it, see what happened.

import * as store from './store.js';
import { navigate } from './app.js';
import { change, newId } from './sync.js';
import { recordForm } from './record-form.js';
import { heldNotice, conflictNotice, pendingNote, timeline, deleteButton, newRecordDefaults } from './record-parts.js';
import { h, clear, fmtMoney, fmtDate, cap, STAGES } from './ui.js';

export async function render(main, { id, params }, ctx) {
  const companies = await store.listEntries('company');
  if (id === 'new') {
    const fresh = newId();
    clear(main, h('h1', { text: 'New deal' }),
      recordForm({ type: 'deal', id: fresh, entry: null, refs: { company: companies }, extra: newRecordDefaults('deal', ctx.me), defaults: { stage: 'lead', currency: 'EUR', company: params.company }, onSaved: () => navigate(`#/deals/${fresh}`), onCancel: () => history.back() }));
    return null;
  }
  let editing = false;
  const draw = async () => {
    const entry = await store.getEntry('deal', id);
    if (!entry || entry.deleted) {
      clear(main, h('h1', { text: 'Deal not found' }), h('a', { href: '#/deals', text: 'Back to deals' }));
      return;
    }
    const v = entry.v;
    if (editing || entry.held) {
      editing = true;
      clear(main, h('h1', { text: `Edit ${v.title}` }), heldNotice(entry),
        recordForm({ type: 'deal', id, entry, refs: { company: companies }, onSaved: () => { editing = false; draw(); }, onCancel: () => { editing = false; draw(); } }));
      return;
    }
    const company = companies.find((c) => c.id === v.company);
    const facts = [
      ['Stage', cap(v.stage)],
      ['Amount', fmtMoney(v.amount, v.currency)],
      ['Discount', v.discount && v.discount !== '0' ? `${v.discount} %` : 'none'],
      ['Expected close', fmtDate(v.expected_close) || 'not set'],
      ['Probability', v.probability === null || v.probability === undefined ? 'not set' : `${v.probability} %`],
      ['Company', company ? h('a', { href: `#/companies/${company.id}`, text: company.v.name }) : 'none'],
    ];
    clear(main,
      h('p', {}, h('a', { href: '#/deals', text: '‹ Deals' })),
      h('h1', { text: v.title }), conflictNotice(entry), pendingNote(entry),
      h('dl', { class: 'facts' }, facts.flatMap(([k, val]) => [h('dt', { text: k }), h('dd', {}, val)])),
      h('fieldset', { class: 'stages' }, h('legend', { text: 'Move to stage' }),
        h('div', { class: 'actions wrap' }, STAGES.map((s) => h('button', {
          type: 'button', class: s === v.stage ? 'current' : 'secondary', 'aria-pressed': String(s === v.stage),
          onclick: async () => { if (s !== v.stage) await change('deal', id, { stage: s }); },
        }, cap(s))))),
      v.notes ? h('p', { class: 'notes', text: v.notes }) : null,
      h('div', { class: 'actions wrap' },
        h('a', { class: 'button secondary', href: `#/visit?deal=${id}${v.company ? `&company=${v.company}` : ''}` }, 'Log visit'),
        h('button', { type: 'button', class: 'secondary', onclick: () => { editing = true; draw(); } }, 'Edit deal'),
        deleteButton('deal', id, v.title, () => navigate('#/deals'))),
      await timeline(id));
  };
  await draw();
  return { refresh: () => { if (!editing) draw(); } };
}
