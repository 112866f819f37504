// Pieces every record screen shows: refusals from the server, conflict notices, the timeline, delete.

import * as store from './store.js';
import { remove } from './sync.js';
import { h, fmtWhen, cap, empty } from './ui.js';

export function heldNotice(entry) {
  if (!entry?.held) return null;
  return h('div', { class: 'notice bad', role: 'alert' },
    h('p', {}, h('strong', { text: 'Not saved on the server. ' }), 'The server refused this change; fix it and save again.'),
    h('ul', {}, (entry.errors || []).map((e) => h('li', { text: `${e.field}: ${e.message}` }))));
}

export function conflictNotice(entry) {
  if (entry?.flag !== 1) return null;
  return h('div', { class: 'notice warn' },
    h('p', { text: 'Two people changed this at the same time. ' }, h('a', { href: '#/conflicts', text: 'Settle it' })));
}

export function pendingNote(entry) {
  if (!entry?.dirty || entry.held) return null;
  return h('p', { class: 'muted small', text: 'Saved on this phone; waiting to be sent.' });
}

const KIND_ICON = { visit: '📍', call: '☎', meeting: '👥', note: '✎' };

export async function timeline(id) {
  const related = await store.entriesByRef(id);
  const acts = related.filter((e) => e.type === 'activity').sort((a, b) => String(b.v.occurred_at).localeCompare(String(a.v.occurred_at)));
  const tasks = related.filter((e) => e.type === 'task' && !e.v.done_at);
  return h('section', { 'aria-labelledby': `tl-${id}` },
    h('h2', { id: `tl-${id}`, text: 'Timeline' }),
    tasks.length ? h('ul', { class: 'list' }, tasks.map((t) => h('li', { class: 'row' },
      h('a', { class: 'row-main', href: `#/tasks/${t.id}` }, h('strong', { text: `Task: ${t.v.title}` }), h('span', { class: 'muted', text: t.v.due_at ? `due ${fmtWhen(t.v.due_at)}` : 'no due date' }))))) : null,
    acts.length ? h('ol', { class: 'timeline' }, acts.slice(0, 50).map((a) => h('li', {},
      h('p', {}, h('span', { 'aria-hidden': 'true', text: `${KIND_ICON[a.v.kind] || '•'} ` }), h('strong', { text: cap(a.v.kind) }), ` · ${fmtWhen(a.v.occurred_at)}`, a.dirty && !a.held ? ' · not sent yet' : ''),
      a.v.outcome ? h('p', { text: `Outcome: ${a.v.outcome}` }) : null,
      a.v.notes ? h('p', { class: 'notes', text: a.v.notes }) : null))) : empty('No activities yet.'));
}

export function deleteButton(type, id, what, after) {
  return h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      if (!confirm(`Delete ${what}? Other people lose it too once this phone syncs.`)) return;
      await remove(type, id);
      after();
    },
  }, `Delete ${type}`);
}

export function newRecordDefaults(type, me) {
  if (type === 'company' || type === 'contact') return { team: me.team };
  if (type === 'task') return { owner: me.id, assignee: me.id };
  return { owner: me.id };
}
