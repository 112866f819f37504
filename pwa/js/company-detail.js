// One company: its people, deals and timeline; edit and delete.

import * as store from './store.js';
import { navigate } from './app.js';
import { newId } from './sync.js';
import { recordForm } from './record-form.js';
import { heldNotice, conflictNotice, pendingNote, timeline, deleteButton, newRecordDefaults } from './record-parts.js';
import { h, clear, telHref, mapsHref, fmtMoney, cap, drawer } from './ui.js';

export async function render(main, { id }, ctx) {
  if (id === 'new') {
    const fresh = newId();
    clear(main, h('h1', { text: 'New company' }),
      recordForm({ type: 'company', id: fresh, entry: null, extra: newRecordDefaults('company', ctx.me), onSaved: () => navigate(`#/companies/${fresh}`), onCancel: () => history.back() }));
    return null;
  }
  let editing = false;
  const draw = drawer(main, async (show) => {
    const entry = await store.getEntry('company', id);
    if (!entry || entry.deleted) {
      show(h('h1', { text: 'Company not found' }), h('a', { href: '#/companies', text: 'Back to companies' }));
      return;
    }
    const v = entry.v;
    if (editing || entry.held) {
      editing = true;
      show(h('h1', { text: `Edit ${v.name}` }), heldNotice(entry),
        recordForm({ type: 'company', id, entry, onSaved: () => { editing = false; draw(); }, onCancel: () => { editing = false; draw(); } }));
      return;
    }
    const related = await store.entriesByRef(id);
    const people = related.filter((e) => e.type === 'contact').sort((a, b) => a.sort.localeCompare(b.sort));
    const deals = related.filter((e) => e.type === 'deal');
    const map = mapsHref(v);
    show(
      h('p', {}, h('a', { href: '#/companies', text: '‹ Companies' })),
      h('h1', { text: v.name }), conflictNotice(entry), pendingNote(entry),
      h('div', { class: 'actions wrap' },
        v.phone ? h('a', { class: 'button', href: telHref(v.phone) }, `Call ${v.phone}`) : null,
        v.email ? h('a', { class: 'button secondary', href: `mailto:${v.email}` }, 'E-mail') : null,
        map ? h('a', { class: 'button secondary', href: map, target: '_blank', rel: 'noopener' }, 'Open in maps') : null,
        h('a', { class: 'button secondary', href: `#/visit?company=${id}` }, 'Log visit'),
        h('a', { class: 'button secondary', href: `#/contacts/new?company=${id}` }, 'Add contact')),
      v.address ? h('p', { text: v.address }) : null,
      h('h2', { text: `People (${people.length})` }),
      h('ul', { class: 'list' }, people.map((p) => h('li', { class: 'row' }, h('a', { class: 'row-main', href: `#/contacts/${p.id}` }, h('strong', { text: p.v.name }), h('span', { class: 'muted', text: p.v.title || '' }))))),
      h('h2', { text: `Deals (${deals.length})` }),
      h('ul', { class: 'list' }, deals.map((d) => h('li', { class: 'row' }, h('a', { class: 'row-main', href: `#/deals/${d.id}` }, h('strong', { text: d.v.title }), h('span', { class: 'muted', text: `${cap(d.v.stage)} · ${fmtMoney(d.v.amount, d.v.currency)}` }))))),
      await timeline(id),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => { editing = true; draw(); } }, 'Edit company'),
        deleteButton('company', id, v.name, () => navigate('#/companies'))));
  });
  await draw();
  return { refresh: () => { if (!editing) draw(); } };
}
