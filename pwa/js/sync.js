// Local edits as edits of this phone's replica, the outbox push and the paged pull (shared/SYNC.md).
// No DOM here: the page and the service worker both run it.

import * as core from './sync-core.js';
import * as store from './store.js';
import { api, ApiError, Offline, SignedOut } from './api.js';
import { refreshReference } from './rules.js';

const PAGE = 1000;
const BATCH = 200;
const LISTS = ['companies', 'contacts', 'deals', 'activities', 'tasks'];
// Push order: a record before those that point at it (a request for a deal made on this phone).
const PUSH_ORDER = ['company', 'contact', 'deal', 'activity', 'task', 'approval'];
const pushRank = (e) => (PUSH_ORDER.includes(e.type) ? PUSH_ORDER.indexOf(e.type) : PUSH_ORDER.length);

// Changes reach every screen of this context at once and every other tab or worker by broadcast.
export const events = new EventTarget();
const channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('fieldbook');
if (channel) channel.onmessage = (m) => events.dispatchEvent(new CustomEvent(m.data.type, { detail: m.data }));

export function emit(type, detail = {}) {
  events.dispatchEvent(new CustomEvent(type, { detail: { type, ...detail } }));
  channel?.postMessage({ type, ...detail });
}

export function newId() {
  return crypto.randomUUID();
}

async function replicaOrFail() {
  const replica = await store.getMeta('replica');
  if (!replica) throw new Error('This phone is not set up yet: connect once so it can register.');
  return replica;
}

// One edit of one record by this phone: applied at once, queued for the server.
export async function change(type, id, changes) {
  const replica = await replicaOrFail();
  const now = Date.now();
  const entry = await store.update(type, id, (before) => {
    const state = core.edit(before ? before.state : core.newRecord(type, id), replica, changes, now);
    return store.entryFor(state, { ...before, dirty: 1, held: undefined, errors: undefined });
  });
  emit('changed', { local: true });
  return entry;
}

export async function remove(type, id) {
  const replica = await replicaOrFail();
  const now = Date.now();
  await store.update(type, id, (before) => {
    if (!before) return null;
    const state = core.deleteRecord(before.state, replica, now);
    return store.entryFor(state, { ...before, dirty: 1, held: undefined, errors: undefined });
  });
  emit('changed', { local: true });
}

function deviceName() {
  const ua = typeof navigator === 'undefined' ? '' : navigator.userAgent;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iPhone' : /Mac/.test(ua) ? 'Mac' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : 'Browser';
  return `${os} ${new Date().toISOString().slice(0, 10)}`;
}

export async function ensureReplica() {
  const known = await store.getMeta('replica');
  if (known) return known;
  const name = (await store.getMeta('deviceName')) || deviceName();
  const { replica } = await api('POST', '/api/v1/sync/devices', { name });
  await store.setMeta('replica', replica);
  await store.setMeta('deviceName', name);
  return replica;
}

async function pushOutbox(replica) {
  const pending = (await store.outbox()).filter((e) => !e.held).sort((a, b) => pushRank(a) - pushRank(b));
  let sent = 0;
  for (let i = 0; i < pending.length; i += BATCH) {
    const batch = pending.slice(i, i + BATCH);
    const { results } = await api('POST', '/api/v1/sync/push', { replica, records: batch.map((e) => e.state) });
    for (const [j, result] of results.entries()) {
      const pushed = batch[j].state;
      await store.update(result.type, result.id, (before) => {
        if (!before) return null;
        const untouched = store.sameState(before.state, pushed);
        if (result.status === 'ok') {
          const state = core.merge(before.state, result.record);
          // Edited while the push was on its way: that newer edit still has to go.
          return store.entryFor(state, { ...before, dirty: untouched ? undefined : 1, held: undefined, errors: undefined });
        }
        // A newer edit may already fix what was refused; it goes in the next round.
        if (!untouched) return null;
        return store.entryFor(before.state, { ...before, held: 1, errors: result.errors });
      });
    }
    sent += batch.length;
  }
  if (sent) emit('changed', { pushed: sent });
  return sent;
}

// How many records the first sync will bring, for its progress bar: the lists count them.
async function expectedTotal() {
  const totals = await Promise.all(LISTS.map((p) => api('GET', `/api/v1/${p}?limit=1`).then((a) => a.total, () => 0)));
  return totals.reduce((a, b) => a + b, 0);
}

function fetchPage(cursor) {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (cursor) query.set('after', cursor);
  return api('GET', `/api/v1/sync/pull?${query}`);
}

async function pullAll(onProgress) {
  let cursor = await store.getMeta('cursor');
  const first = !cursor;
  // A first sync into an empty database has nothing to merge with: it only writes.
  const [total, fresh] = first ? await Promise.all([expectedTotal(), store.counts().then((c) => c.records === 0)]) : [0, false];
  let received = 0;
  let next = fetchPage(cursor);
  for (;;) {
    let page;
    try {
      page = await next;
    } catch (error) {
      if (error instanceof ApiError && error.status === 400 && cursor) {
        cursor = null; // a cursor the server no longer knows: start over; merging makes that safe
        next = fetchPage(cursor);
        continue;
      }
      throw error;
    }
    // The next page travels while this one is stored.
    if (page.more) {
      next = fetchPage(page.cursor);
      next.catch(() => {}); // handled when awaited
    }
    await store.applyPulled(page.records, page.gone, { fresh });
    cursor = page.cursor;
    await store.setMeta('cursor', cursor);
    received += page.records.length;
    if (first) onProgress?.({ received, total: Math.max(total, received), more: page.more });
    if (page.records.length || page.gone.length) emit('changed', { pulled: page.records.length });
    if (!page.more) break;
  }
  return received;
}

async function exclusively(work) {
  // One sync at a time across tabs and the service worker.
  if (typeof navigator !== 'undefined' && navigator.locks) return navigator.locks.request('fieldbook-sync', work);
  return work();
}

// Push what is waiting, pull what changed, push again what was edited meanwhile.
export async function syncNow({ onProgress } = {}) {
  return exclusively(async () => {
    emit('sync-state', { state: 'syncing' });
    try {
      const replica = await ensureReplica();
      await pushOutbox(replica);
      await pullAll(onProgress);
      // The rules and names a phone needs offline; a failure here never fails the sync.
      await refreshReference().catch((error) => console.warn('rules and people not refreshed', error));
      await pushOutbox(replica);
      const at = Date.now();
      await store.setMeta('lastSync', at);
      emit('sync-state', { state: 'synced', at });
      return true;
    } catch (error) {
      const state = error instanceof Offline ? 'offline' : error instanceof SignedOut ? 'signed-out' : 'error';
      emit('sync-state', { state, message: error.message });
      if (state === 'error') throw error;
      return false;
    }
  });
}
