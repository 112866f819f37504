// The always-visible sync status: offline badge, pending changes, conflicts, last sync.

import * as store from './store.js';
import { h, clear, ago } from './ui.js';

export async function renderStatus(ctx) {
  const el = document.getElementById('status');
  if (!el) return;
  const [{ pending, held, flagged }, lastSync] = await Promise.all([store.counts(), store.getMeta('lastSync')]);
  const offline = !navigator.onLine || ctx.syncState?.state === 'offline';
  const parts = [];
  if (offline) parts.push(h('span', { class: 'badge offline', text: 'Offline' }));
  else if (ctx.syncing) parts.push(h('span', { class: 'badge', text: 'Syncing…' }));
  if (ctx.syncState?.state === 'signed-out') parts.push(h('span', { class: 'badge warn', text: 'Signed out' }));
  parts.push(h('span', { class: pending ? 'badge pending' : 'badge', 'data-pending': String(pending), text: pending ? `${pending} pending` : 'All sent' }));
  if (flagged) {
    parts.push(h('a', { class: 'badge warn', href: '#/conflicts', text: `${flagged} to settle` }));
  }
  parts.push(h('span', { class: 'badge quiet', text: `Synced ${ago(lastSync)}` }));
  clear(el, parts);
  el.dataset.state = offline ? 'offline' : 'online';
  el.title = held ? `${held} change(s) refused by the server` : '';
}
