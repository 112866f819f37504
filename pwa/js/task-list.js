// A list of tasks with done and reschedule buttons: used by Today and Tasks.

import { change } from './sync.js';
import { h, fmtWhen, toast } from './ui.js';

export function isOpen(t) {
  return !t.v.done_at;
}

export function dueTime(t) {
  const d = Date.parse(t.v.due_at || t.v.remind_at || '');
  return Number.isNaN(d) ? Infinity : d;
}

export function endOfToday() {
  const d = new Date();
  d.setHours(23, 59, 59, 999);
  return d.getTime();
}

function tomorrowMorning(t) {
  const d = new Date(Math.max(Date.now(), Number.isFinite(dueTime(t)) ? dueTime(t) : 0) + 86400000);
  d.setHours(9, 0, 0, 0);
  return d.toISOString();
}

export function taskItem(t) {
  const overdue = isOpen(t) && dueTime(t) < Date.now();
  return h('li', { class: `row task${overdue ? ' overdue' : ''}` },
    h('a', { class: 'row-main', href: `#/tasks/${t.id}` },
      h('strong', { text: t.v.title }),
      h('span', { class: overdue ? 'muted bad' : 'muted', text: t.v.done_at ? `done ${fmtWhen(t.v.done_at)}` : t.v.due_at ? `${overdue ? 'overdue · ' : ''}due ${fmtWhen(t.v.due_at)}` : 'no due date' })),
    isOpen(t)
      ? h('span', { class: 'row-actions' },
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Move ${t.v.title} to tomorrow`, onclick: async () => {
          const due = tomorrowMorning(t);
          const changes = { due_at: due };
          if (t.v.remind_at) changes.remind_at = due;
          await change('task', t.id, changes);
          toast(`Moved to ${fmtWhen(due)}`);
        } }, 'Tomorrow'),
        h('button', { type: 'button', class: 'small', 'aria-label': `Mark ${t.v.title} done`, onclick: async () => {
          await change('task', t.id, { done_at: new Date().toISOString() });
          toast('Done.');
        } }, 'Done'))
      : h('button', { type: 'button', class: 'secondary small', 'aria-label': `Reopen ${t.v.title}`, onclick: () => change('task', t.id, { done_at: null }) }, 'Reopen'));
}
