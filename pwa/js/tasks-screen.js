// Tasks: overdue, today, later, undated; complete or move them on.

import * as store from './store.js';
import { h, clear, typing, empty } from './ui.js';
import { taskItem, isOpen, dueTime, endOfToday } from './task-list.js';

function group(title, tasks, id) {
  if (!tasks.length) return null;
  return h('section', { 'aria-labelledby': id }, h('h2', { id, text: `${title} (${tasks.length})` }), h('ul', { class: 'list' }, tasks.map(taskItem)));
}

export async function render(main, _route, ctx) {
  const body = h('div', { id: 'task-groups' });
  clear(main, h('div', { class: 'head' }, h('h1', { text: 'Tasks' }), h('a', { class: 'button small', href: '#/tasks/new' }, 'New task')), body);
  const draw = async () => {
    const all = (await store.listEntries('task')).filter((t) => !t.v.assignee || t.v.assignee === ctx.me.id || ctx.me.role !== 'rep');
    const open = all.filter(isOpen).sort((a, b) => dueTime(a) - dueTime(b));
    const now = Date.now();
    const eod = endOfToday();
    const done = all.filter((t) => !isOpen(t)).sort((a, b) => String(b.v.done_at).localeCompare(String(a.v.done_at))).slice(0, 20);
    clear(body,
      open.length ? null : empty('Nothing to do. Enjoy the drive.'),
      group('Overdue', open.filter((t) => dueTime(t) < now), 'g-overdue'),
      group('Today', open.filter((t) => dueTime(t) >= now && dueTime(t) <= eod), 'g-today'),
      group('Later', open.filter((t) => dueTime(t) > eod && Number.isFinite(dueTime(t))), 'g-later'),
      group('No due date', open.filter((t) => !Number.isFinite(dueTime(t))), 'g-none'),
      group('Recently done', done, 'g-done'));
  };
  await draw();
  return { refresh: () => { if (!typing(body)) draw(); } };
}
