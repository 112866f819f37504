// One contact: call, e-mail, navigate, log a visit, its timeline; edit and delete.

import * as store from './store.js';
import { navigate } from './app.js';
import { newId } from './sync.js';
import { recordForm } from './record-form.js';
import { heldNotice, conflictNotice, pendingNote, timeline, deleteButton, newRecordDefaults } from './record-parts.js';
import { h, clear, telHref, mapsHref, drawer } from './ui.js';

export async function render(main, { id, params }, ctx) {
  const companies = await store.listEntries('company');
  if (id === 'new') {
    const fresh = newId();
    clear(main, h('h1', { text: 'New contact' }),
      recordForm({ type: 'contact', id: fresh, entry: null, refs: { company: companies }, extra: newRecordDefaults('contact', ctx.me), defaults: { company: params.company }, onSaved: () => navigate(`#/contacts/${fresh}`), onCancel: () => history.back() }));
    return null;
  }
  let editing = Boolean(params.edit);
  const draw = drawer(main, async (show) => {
    const entry = await store.getEntry('contact', id);
    if (!entry || entry.deleted) {
      show(h('h1', { text: 'Contact not found' }), h('p', { text: 'It was deleted, or you can no longer see it.' }), h('a', { href: '#/contacts', text: 'Back to contacts' }));
      return;
    }
    const v = entry.v;
    const company = companies.find((c) => c.id === v.company);
    if (editing || entry.held) {
      show(h('h1', { text: `Edit ${v.name}` }), heldNotice(entry),
        recordForm({ type: 'contact', id, entry, refs: { company: companies }, onSaved: () => { editing = false; draw(); }, onCancel: () => { editing = false; draw(); } }));
      editing = true;
      return;
    }
    const map = mapsHref(v);
    show(
      h('p', {}, h('a', { href: '#/contacts', text: '‹ Contacts' })),
      h('h1', { text: v.name }),
      h('p', { class: 'muted' }, [v.title, company ? h('a', { href: `#/companies/${company.id}`, text: company.v.name }) : null].filter(Boolean).flatMap((x, i) => (i ? [' · ', x] : [x]))),
      conflictNotice(entry), pendingNote(entry),
      h('div', { class: 'actions wrap' },
        (v.phones || []).map((p) => h('a', { class: 'button', href: telHref(p) }, `Call ${p}`)),
        (v.emails || []).map((e) => h('a', { class: 'button secondary', href: `mailto:${e}` }, `E-mail ${e}`)),
        map ? h('a', { class: 'button secondary', href: map, target: '_blank', rel: 'noopener' }, 'Open in maps') : null,
        h('a', { class: 'button secondary', href: `#/visit?contact=${id}` }, 'Log visit'),
        h('a', { class: 'button secondary', href: `#/tasks/new?related_type=contact&related_id=${id}` }, 'Add follow-up')),
      v.address ? h('p', { text: v.address }) : null,
      (v.tags || []).length ? h('p', { class: 'tags' }, v.tags.map((t) => h('span', { class: 'tag', text: t }))) : null,
      v.notes ? h('p', { class: 'notes', text: v.notes }) : null,
      await timeline(id),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => { editing = true; draw(); } }, 'Edit contact'),
        deleteButton('contact', id, v.name, () => navigate('#/contacts'))));
  });
  await draw();
  return { refresh: () => { if (!editing) draw(); } };
}
