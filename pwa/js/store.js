// The phone's only door to IndexedDB: records with their sync state, the outbox, and settings.

import { visible, isDeleted, conflicts, deleteConflict, merge, canonicalJson } from './sync-core.js';

const DB_NAME = 'fieldbook';
const DB_VERSION = 2;
let opening = null;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

export function openDb() {
  if (opening) return opening;
  opening = new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = (event) => {
      const db = request.result;
      // Append-only ladder: each step upgrades from the version before it, never edited once shipped.
      if (event.oldVersion < 1) {
        db.createObjectStore('meta');
        const records = db.createObjectStore('records', { keyPath: ['type', 'id'] });
        // Entries without `sort` (tombstones) stay out of lists; without `dirty`, out of the outbox.
        records.createIndex('list', ['type', 'sort']);
        records.createIndex('dirty', 'dirty');
        records.createIndex('flag', 'flag');
        records.createIndex('refs', 'refs', { multiEntry: true });
      }
      if (event.oldVersion >= 1 && event.oldVersion < 2) {
        // Version 2 sorts activities and tasks by UTC instant and approvals by status, so Today can ask for a key range.
        const records = request.transaction.objectStore('records');
        records.openCursor().onsuccess = (e) => {
          const cursor = e.target.result;
          if (!cursor) return;
          const entry = cursor.value;
          if (['activity', 'task', 'approval'].includes(entry.type) && entry.sort !== undefined) cursor.update(entryFor(entry.state, entry));
          cursor.continue();
        };
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      // Another tab wiping the database must not be blocked by this connection.
      db.onversionchange = () => {
        db.close();
        opening = null;
      };
      resolve(db);
    };
    request.onerror = () => {
      opening = null;
      reject(request.error);
    };
  });
  return opening;
}

// -- settings -----------------------------------------------------------------

export async function getMeta(key) {
  const db = await openDb();
  return promised(db.transaction('meta').objectStore('meta').get(key));
}

export async function setMeta(key, value) {
  const db = await openDb();
  const tx = db.transaction('meta', 'readwrite');
  tx.objectStore('meta').put(value, key);
  return done(tx);
}

export async function allMeta() {
  const db = await openDb();
  const tx = db.transaction('meta');
  const store = tx.objectStore('meta');
  const [keys, values] = await Promise.all([promised(store.getAllKeys()), promised(store.getAll())]);
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
}

// -- entries: one record, its sync state and what the screens need of it ------

// An instant as a sort key: UTC, so that "today" is one key range whatever offsets were written.
export function timeKey(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? String(iso || '') : new Date(ms).toISOString().toLowerCase();
}

const SORT = {
  company: (v) => v.name,
  contact: (v) => v.name,
  deal: (v) => v.title,
  activity: (v) => timeKey(v.occurred_at),
  task: (v) => (v.due_at || v.remind_at ? timeKey(v.due_at || v.remind_at) : '9999'),
  approval: (v) => v.status || 'pending',
};

const REFS = ['company', 'contact', 'deal', 'related_id'];

// Text as search and sort compare it: lower case, accents folded away.
export function fold(text) {
  return String(text || '').toLocaleLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
}

// Everything derived from the state is recomputed here, so no screen ever reads a stale flag.
export function entryFor(state, previous = {}) {
  const entry = { type: state.type, id: state.id, state };
  for (const key of ['dirty', 'held', 'errors', 'pushed']) if (previous[key] !== undefined) entry[key] = previous[key];
  // Most states hold one value per field and no delete: read them directly, skip the merge rules.
  const simple = Object.entries(state.fields).every(([name, sibs]) => name !== 'deleted' && sibs.length === 1);
  const gone = simple ? false : isDeleted(state);
  const v = simple ? Object.fromEntries(Object.entries(state.fields).map(([name, sibs]) => [name, sibs[0][0]])) : visible(state);
  entry.v = v;
  if (gone) entry.deleted = 1;
  else entry.sort = fold(SORT[state.type]?.(v) ?? '') || '\uffff';
  const refs = REFS.map((k) => v[k]).filter((x) => typeof x === 'string');
  if (refs.length) entry.refs = refs;
  // flag 1: a conflict for a person to settle; 2: a change the server refused.
  if (!simple && !gone && (Object.keys(conflicts(state)).length || deleteConflict(state))) entry.flag = 1;
  else if (entry.held) entry.flag = 2;
  return entry;
}

export async function getEntry(type, id) {
  const db = await openDb();
  return promised(db.transaction('records').objectStore('records').get([type, id]));
}

export async function putEntry(entry) {
  const db = await openDb();
  const tx = db.transaction('records', 'readwrite');
  tx.objectStore('records').put(entry);
  return done(tx);
}

// Read-modify-write in one transaction, so an edit racing a pull merges rather than overwrites.
export async function update(type, id, change) {
  const db = await openDb();
  const tx = db.transaction('records', 'readwrite');
  const store = tx.objectStore('records');
  const before = await promised(store.get([type, id]));
  const after = change(before);
  if (after) store.put(after);
  await done(tx);
  return after;
}

// Merge pulled states into the local ones, and drop what the server says this user can no longer see.
// `fresh`: nothing is stored locally yet (a first sync), so there is nothing to read and merge.
export async function applyPulled(states, gone, { fresh = false } = {}) {
  const db = await openDb();
  const tx = db.transaction('records', 'readwrite');
  const store = tx.objectStore('records');
  const locals = fresh ? [] : await Promise.all(states.map((s) => promised(store.get([s.type, s.id]))));
  states.forEach((remote, i) => {
    const local = locals[i];
    const state = local ? merge(local.state, remote) : remote;
    const entry = entryFor(state, local);
    if (local?.dirty && !local.held && sameState(state, remote)) {
      // The server already holds everything we have: nothing is left to send.
      delete entry.dirty;
    }
    store.put(entry);
  });
  const goneLocals = await Promise.all(gone.map((g) => promised(store.get([g.type, g.id]))));
  gone.forEach((g, i) => {
    const local = goneLocals[i];
    if (!local) return;
    if (local.dirty) {
      // Never drop unsent work silently: keep it, held, with the reason.
      store.put({
        ...local,
        held: 1,
        flag: 2,
        errors: [{ field: 'id', message: 'You can no longer see this record, so your changes were not sent.' }],
      });
    } else {
      store.delete([g.type, g.id]);
    }
  });
  await done(tx);
}

export function sameState(a, b) {
  return canonicalJson(a) === canonicalJson(b);
}

// Live records of a type in their list order; `from` and `to` bound the sort key (see timeKey).
export async function listEntries(type, { limit, from = '', to = '\uffff\uffff' } = {}) {
  const db = await openDb();
  const index = db.transaction('records').objectStore('records').index('list');
  const range = IDBKeyRange.bound([type, from], [type, to]);
  return promised(index.getAll(range, limit));
}

export async function entriesByRef(id) {
  const db = await openDb();
  const index = db.transaction('records').objectStore('records').index('refs');
  return (await promised(index.getAll(id))).filter((e) => !e.deleted);
}

export async function outbox() {
  const db = await openDb();
  return promised(db.transaction('records').objectStore('records').index('dirty').getAll());
}

export async function flagged() {
  const db = await openDb();
  return promised(db.transaction('records').objectStore('records').index('flag').getAll());
}

export async function counts() {
  const db = await openDb();
  const tx = db.transaction('records');
  const store = tx.objectStore('records');
  const [waiting, flag, all] = await Promise.all([
    promised(store.index('dirty').getAll()),
    promised(store.index('flag').count()),
    promised(store.count()),
  ]);
  const held = waiting.filter((e) => e.held).length;
  return { pending: waiting.length - held, held, flagged: flag, records: all };
}

export async function wipe() {
  if (opening) (await opening).close();
  opening = null;
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => resolve();
  });
}
