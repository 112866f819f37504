// One task: create, edit, reschedule, complete.

import * as store from './store.js';
import { navigate } from './app.js';
import { change, newId } from './sync.js';
import { recordForm } from './record-form.js';
import { heldNotice, conflictNotice, pendingNote, deleteButton, newRecordDefaults } from './record-parts.js';
import { h, clear, recordHref, drawer } from './ui.js';
import { offerReminders } from './reminder-offer.js';

export async function render(main, { id, params }, ctx) {
  if (id === 'new') {
    const fresh = newId();
    const extra = newRecordDefaults('task', ctx.me);
    if (params.related_type && params.related_id) Object.assign(extra, { related_type: params.related_type, related_id: params.related_id });
    clear(main, h('h1', { text: 'New task' }),
      recordForm({ type: 'task', id: fresh, entry: null, extra, onSaved: () => { navigate('#/tasks'); offerReminders(); }, onCancel: () => history.back(), submitLabel: 'Add task' }));
    return null;
  }
  const draw = drawer(main, async (show) => {
    const entry = await store.getEntry('task', id);
    if (!entry || entry.deleted) {
      show(h('h1', { text: 'Task not found' }), h('a', { href: '#/tasks', text: 'Back to tasks' }));
      return;
    }
    const v = entry.v;
    const relatedHref = v.related_type && v.related_id ? recordHref(v.related_type, v.related_id) : null;
    const related = relatedHref ? h('p', {}, h('a', { href: relatedHref, text: `Open the related ${v.related_type}` })) : null;
    show(
      h('p', {}, h('a', { href: '#/tasks', text: '‹ Tasks' })),
      h('h1', { text: v.title }), heldNotice(entry), conflictNotice(entry), pendingNote(entry), related,
      h('div', { class: 'actions' },
        v.done_at
          ? h('button', { type: 'button', class: 'secondary', onclick: () => change('task', id, { done_at: null }) }, 'Reopen')
          : h('button', { type: 'button', onclick: () => change('task', id, { done_at: new Date().toISOString() }) }, 'Mark done')),
      recordForm({ type: 'task', id, entry, onSaved: () => navigate('#/tasks'), submitLabel: 'Save changes' }),
      h('div', { class: 'actions' }, deleteButton('task', id, v.title, () => navigate('#/tasks'))));
  });
  await draw();
  return { refresh: () => draw({ unlessTyping: true }) };
}
