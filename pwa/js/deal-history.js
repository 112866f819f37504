// A deal's audit trail from the server: every stage, amount and discount change and every
// decision, with who, when and from which replica. The last one fetched is kept for offline.

import * as store from './store.js';
import { api, Offline } from './api.js';
import { people as cachedPeople } from './rules.js';
import { showValue, statusOf } from './approval-status.js';
import { h, clear, fmtWhen, ago, cap, replicaName } from './ui.js';

const NAMES = { stage: 'Stage', amount: 'Amount', discount: 'Discount' };

function describe(event, currency, approvals) {
  if (event.field === 'approval') {
    const word = { approved: 'Approved', rejected: 'Rejected', stale: 'Marked stale' }[event.new] || cap(String(event.new));
    const local = event.approval ? approvals.get(event.approval) : null;
    // The server records the decision as made; if it came after the deal changed it was not applied.
    const late = local && statusOf(local) === 'stale' && event.new !== 'stale' ? ' (came after the deal changed, so not applied)' : '';
    return `${word}${late}`;
  }
  const name = NAMES[event.field] || cap(event.field);
  const after = showValue(event.field, event.new, currency);
  if (event.old === null || event.old === undefined) return `${name} set to ${after}`;
  return `${name}: ${showValue(event.field, event.old, currency)} → ${after}`;
}

function trailList(items, { currency, mine, people, approvals }) {
  if (!items.length) return h('p', { class: 'empty', text: 'No changes recorded yet.' });
  // Newest first: what a person looks for is what happened last.
  return h('ol', { class: 'timeline', id: 'deal-history' }, [...items].reverse().map((e) => {
    // Nobody signed in made the demo data or a change from the command line: no name then.
    const who = e.user_name || people.get(e.user)?.name;
    return h('li', { 'data-field': e.field },
      h('p', {}, h('strong', { text: describe(e, currency, approvals) })),
      e.comment ? h('p', { class: 'quote', text: `“${e.comment}”` }) : null,
      h('p', { class: 'muted small', text: [who, fmtWhen(e.at), `from ${replicaName(e.replica, mine)}`].filter(Boolean).join(' · ') }));
  }));
}

/**
 * The "History" section of deal `dealId`: drawn at once from the cached trail, then fetched.
 * Call `load()` again to refetch (after a sync); the section keeps its element. `update()` tells
 * it the deal's currency and its approvals on this phone.
 */
export function dealHistory(dealId) {
  let currency = 'EUR';
  let approvals = new Map();
  let last = null;
  const headingId = `history-${dealId}`;
  const note = h('p', { class: 'muted small', id: 'history-note', role: 'status' });
  const body = h('div', {});
  const section = h('section', { 'aria-labelledby': headingId, class: 'deal-history' },
    h('h2', { id: headingId, text: 'History' }), note, body);
  let loading = null;
  const show = async (trail) => {
    last = trail;
    const [mine, people] = await Promise.all([store.getMeta('replica'), cachedPeople()]);
    clear(body, trailList(trail.items, { currency, mine, people, approvals }));
  };
  const load = () => {
    if (loading) return loading;
    loading = (async () => {
      const key = `history:${dealId}`;
      const cached = await store.getMeta(key);
      if (cached && !body.firstChild) await show(cached);
      try {
        const answer = await api('GET', `/api/v1/deals/${dealId}/history`, undefined, { timeout: 10000 });
        const trail = { at: Date.now(), items: answer.items };
        await store.setMeta(key, trail);
        await show(trail);
        note.textContent = '';
      } catch (error) {
        if (error instanceof Offline) {
          note.textContent = cached
            ? `The history needs a connection: this is the one fetched ${ago(cached.at)}.`
            : 'The history needs a connection: it shows here once this phone is online.';
        } else if (error.status === 404) {
          note.textContent = 'The server has no history of this deal yet: it shows once the deal is sent.';
        } else {
          note.textContent = `The history could not be fetched: ${error.message}`;
        }
      } finally {
        loading = null;
      }
    })();
    return loading;
  };
  load();
  const update = (facts) => {
    const redraw = last && facts.currency !== currency;
    ({ currency, approvals } = facts);
    if (redraw) show(last);
  };
  return { element: section, load, update };
}
