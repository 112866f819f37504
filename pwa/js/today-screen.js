// Today: what is due or overdue, today's visits, and for managers the approvals waiting.

import * as store from './store.js';
import { h, clear, typing, empty, fmtTime, fmtMoney } from './ui.js';
import { taskItem, isOpen, dueTime, endOfToday } from './task-list.js';

export async function render(main, _route, ctx) {
  const body = h('div', { id: 'today' });
  const greeting = new Date().getHours() < 12 ? 'Good morning' : new Date().getHours() < 18 ? 'Good afternoon' : 'Good evening';
  clear(main, h('h1', { text: `${greeting}, ${ctx.me.name.split(' ')[0]}` }), body);
  const draw = async () => {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    // Only what today needs, by key range: a phone holding years of visits stays quick.
    const [tasks, activities, approvals] = await Promise.all([
      store.listEntries('task', { to: store.timeKey(new Date(endOfToday()).toISOString()) }),
      store.listEntries('activity', { from: store.timeKey(start.toISOString()) }),
      ctx.me.role === 'rep' ? [] : store.listEntries('approval', { from: 'pending', to: 'pending' }),
    ]);
    const due = tasks.filter((t) => isOpen(t) && dueTime(t) <= endOfToday() && (t.v.assignee === ctx.me.id || !t.v.assignee)).sort((a, b) => dueTime(a) - dueTime(b));
    const visits = activities
      .filter((a) => a.v.kind === 'visit' && a.v.owner === ctx.me.id && Date.parse(a.v.occurred_at) >= start.getTime())
      .sort((a, b) => String(a.v.occurred_at).localeCompare(String(b.v.occurred_at)));
    const contactIds = visits.map((v) => v.v.contact).filter(Boolean);
    const contacts = new Map((await Promise.all(contactIds.map((id) => store.getEntry('contact', id)))).filter(Boolean).map((c) => [c.id, c]));
    const waiting = approvals.filter((a) => a.v.status === 'pending');
    const deals = await Promise.all([...new Set(waiting.map((a) => a.v.deal))].map((id) => store.getEntry('deal', id)));
    const dealsById = new Map(deals.filter(Boolean).map((d) => [d.id, d]));
    clear(body,
      waiting.length ? h('section', { 'aria-labelledby': 'today-approvals' },
        h('h2', { id: 'today-approvals', text: `Approvals waiting (${waiting.length})` }),
        h('ul', { class: 'list' }, waiting.map((a) => {
          const deal = dealsById.get(a.v.deal);
          return h('li', { class: 'row' }, h('a', { class: 'row-main', href: `#/approvals/${a.id}` },
            h('strong', { text: deal ? deal.v.title : 'A deal' }),
            h('span', { class: 'muted', text: [deal ? fmtMoney(deal.v.amount, deal.v.currency) : '', a.v.reason].filter(Boolean).join(' · ') })));
        })),
        h('p', {}, h('a', { class: 'button secondary', href: '#/approvals' }, 'Review all approvals'))) : null,
      h('section', { 'aria-labelledby': 'today-tasks' },
        h('h2', { id: 'today-tasks', text: `Due today and overdue (${due.length})` }),
        due.length ? h('ul', { class: 'list' }, due.map(taskItem)) : empty('Nothing due today.')),
      h('section', { 'aria-labelledby': 'today-visits' },
        h('h2', { id: 'today-visits', text: `Today's visits (${visits.length})` }),
        visits.length ? h('ul', { class: 'list' }, visits.map((a) => {
          const c = contacts.get(a.v.contact);
          return h('li', { class: 'row' }, h(c ? 'a' : 'span', { class: 'row-main', href: c ? `#/contacts/${c.id}` : undefined },
            h('strong', { text: c ? c.v.name : 'Visit' }),
            h('span', { class: 'muted', text: [fmtTime(Date.parse(a.v.occurred_at)), a.v.outcome, a.dirty ? 'not sent yet' : ''].filter(Boolean).join(' · ') })));
        })) : empty('No visits logged today yet.'),
        h('p', {}, h('a', { class: 'button', href: '#/visit' }, 'Log a visit'))));
    updateBadge(due.length);
  };
  await draw();
  return { refresh: () => { if (!typing(body)) draw(); } };
}

// The home-screen badge counts what is due, rebuilt from local data: no push needed.
function updateBadge(count) {
  if (!('setAppBadge' in navigator)) return;
  (count ? navigator.setAppBadge(count) : navigator.clearAppBadge()).catch(() => {});
}
