// The pipeline: deals by stage with totals; a deal moves stage in one tap and a choice.

import * as store from './store.js';
import { change } from './sync.js';
import { h, clear, typing, fmtMoney, cap, STAGES, toast } from './ui.js';
import { checkDealEdit } from './rules.js';
import { ctx } from './app.js';

function totals(deals) {
  const sums = new Map();
  for (const d of deals) {
    if (d.v.amount === null || d.v.amount === undefined) continue;
    const cur = d.v.currency || 'EUR';
    sums.set(cur, (sums.get(cur) || 0) + Number(d.v.amount));
  }
  return [...sums].map(([cur, sum]) => fmtMoney(sum, cur)).join(' + ') || fmtMoney(0);
}

function stageMover(deal) {
  const select = h('select', { 'aria-label': `Stage of ${deal.v.title}`, class: 'stage-select', 'data-deal': deal.id },
    STAGES.map((s) => h('option', { value: s, selected: s === deal.v.stage, text: cap(s) })));
  select.addEventListener('change', async () => {
    const stage = select.value;
    const row = select.closest('li');
    row?.querySelector('.row-note')?.remove();
    const errors = await checkDealEdit(ctx.me, { ...deal.v, stage }, ['stage']);
    if (errors.length) {
      // Not saved: the deal stays where it was, and the rep may ask for the move instead.
      select.value = deal.v.stage || 'lead';
      row?.classList.add('has-note');
      row?.append(h('div', { class: 'row-note', role: 'alert' },
        h('p', { class: 'error', text: `${deal.v.title} not moved: ${errors.map(([, m]) => m).join('; ')}.` }),
        h('a', { class: 'button small', href: `#/deals/${deal.id}?ask=1&stage=${stage}`, 'aria-label': `Ask for approval to move ${deal.v.title} to ${cap(stage)}` }, 'Ask for approval')));
      return;
    }
    await change('deal', deal.id, { stage });
    toast(`${deal.v.title} moved to ${cap(stage)}`);
  });
  return select;
}

export async function render(main) {
  const board = h('div', { class: 'pipeline', id: 'pipeline' });
  clear(main, h('div', { class: 'head' }, h('h1', { text: 'Deals' }), h('a', { class: 'button small', href: '#/deals/new' }, 'New deal')), board);
  const draw = async () => {
    const [deals, companies] = await Promise.all([store.listEntries('deal'), store.listEntries('company')]);
    const names = new Map(companies.map((c) => [c.id, c.v.name]));
    const focused = document.activeElement?.dataset?.deal;
    clear(board, STAGES.map((stage) => {
      const here = deals.filter((d) => (d.v.stage || 'lead') === stage);
      const headingId = `stage-${stage}`;
      return h('section', { class: 'stage', 'aria-labelledby': headingId },
        h('h2', { id: headingId }, `${cap(stage)} `, h('span', { class: 'muted', text: `${here.length} · ${totals(here)}` })),
        h('ul', { class: 'list' }, here.map((d) => h('li', { class: 'row deal' },
          h('a', { class: 'row-main', href: `#/deals/${d.id}` }, h('strong', { text: d.v.title }),
            h('span', { class: 'muted', text: [names.get(d.v.company), fmtMoney(d.v.amount, d.v.currency)].filter(Boolean).join(' · ') })),
          stageMover(d)))));
    }));
    // A deal that just moved keeps the keyboard focus in its new column.
    if (focused) board.querySelector(`[data-deal="${focused}"]`)?.focus();
  };
  await draw();
  return { refresh: () => { if (!typing(board)) draw(); } };
}
