// The app's start: who is signed in, routing between screens, the sync schedule and the status bar.

import * as store from './store.js';
import { api, csrfToken, Offline, SignedOut } from './api.js';
import { events, syncNow } from './sync.js';
import { h, clear } from './ui.js';
import { renderStatus } from './status-bar.js';

const SYNC_EVERY_MS = 60_000;
const PUSH_DELAY_MS = 800;

export const ctx = { me: null, syncing: false, firstSync: null };

const routes = [
  [/^(today)?$/, () => import('./today-screen.js'), 'today'],
  [/^contacts$/, () => import('./contacts-screen.js'), 'contacts'],
  [/^contacts\/(new|[0-9a-f-]{36})$/, () => import('./contact-detail.js'), 'contacts'],
  [/^companies$/, () => import('./companies-screen.js'), 'more'],
  [/^companies\/(new|[0-9a-f-]{36})$/, () => import('./company-detail.js'), 'more'],
  [/^deals$/, () => import('./deals-screen.js'), 'deals'],
  [/^deals\/(new|[0-9a-f-]{36})$/, () => import('./deal-detail.js'), 'deals'],
  [/^visit$/, () => import('./visit-screen.js'), 'visit'],
  [/^tasks$/, () => import('./tasks-screen.js'), 'tasks'],
  [/^tasks\/(new|[0-9a-f-]{36})$/, () => import('./task-detail.js'), 'tasks'],
  [/^conflicts$/, () => import('./conflicts-screen.js'), 'more'],
  [/^approvals(?:\/([0-9a-f-]{36}))?$/, () => import('./approvals-screen.js'), 'today'],
  [/^(more|settings)$/, () => import('./settings-screen.js'), 'more'],
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let current = null;
let routeToken = 0;

async function route() {
  const token = (routeToken += 1);
  const { path, params } = parseHash();
  const main = document.getElementById('main');
  const hit = routes.find(([pattern]) => pattern.test(path));
  if (!hit) {
    current = null;
    clear(main, h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '#/today', text: 'Go to Today' })));
    return;
  }
  const [pattern, load, tab] = hit;
  const match = path.match(pattern);
  for (const a of document.querySelectorAll('.tabs a')) {
    if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  current = null; // the old screen's late redraws must not land on the new one
  const module = await load();
  if (token !== routeToken) return;
  // Each screen draws into its own element: a redraw still in flight from the screen before
  // writes into a detached element, never over the new screen.
  const view = h('div', { class: 'view' });
  const screen = await module.render(view, { id: match[1], params }, ctx);
  if (token !== routeToken) return;
  main.replaceChildren(view);
  current = screen || {};
  if (current.focus) current.focus();
  else main.focus({ preventScroll: true });
}

// A screen that shows data redraws when that data changes, unless the user is typing in it.
let refreshTimer = null;
function refreshScreen() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => current?.refresh?.(), 150);
}

function banner(id, ...content) {
  const box = document.getElementById('banners');
  document.getElementById(id)?.remove();
  if (content.length) box.append(h('div', { id, class: 'banner', role: 'region', 'aria-label': 'Notice' }, ...content));
}

// -- sync schedule ------------------------------------------------------------------

let pushTimer = null;

async function runSync() {
  if (ctx.syncing) return;
  ctx.syncing = true;
  try {
    const first = !(await store.getMeta('cursor'));
    await syncNow({ onProgress: first ? showProgress : undefined });
  } catch (error) {
    console.warn('sync failed', error);
  } finally {
    ctx.syncing = false;
    if (ctx.firstSync) finishProgress();
    if (ctx.refreshAfterSync) {
      ctx.refreshAfterSync = false;
      refreshScreen();
    }
    renderStatus(ctx);
  }
}

function showProgress({ received, total }) {
  if (!ctx.firstSync) {
    const bar = h('progress', { id: 'first-sync-progress', max: 100, value: 0, 'aria-label': 'First sync' });
    const text = h('span', { class: 'progress-text', text: 'Fetching your data…' });
    ctx.firstSync = { bar, text };
    banner('first-sync', h('p', {}, h('strong', { text: 'First sync: ' }), text), bar);
  }
  const percent = total ? Math.min(100, Math.round((received / total) * 100)) : 0;
  ctx.firstSync.bar.value = percent;
  ctx.firstSync.text.textContent = `${received.toLocaleString()} of about ${total.toLocaleString()} records (${percent} %)`;
}

function finishProgress() {
  ctx.firstSync.bar.value = 100;
  ctx.firstSync.text.textContent = 'Done: everything is on this phone.';
  ctx.firstSync = null;
  setTimeout(() => banner('first-sync'), 4000);
}

function schedulePush() {
  clearTimeout(pushTimer);
  pushTimer = setTimeout(runSync, PUSH_DELAY_MS);
  // Offline: let the browser send it when the signal is back, even with the app closed.
  if (!navigator.onLine && 'serviceWorker' in navigator) {
    navigator.serviceWorker.ready.then((reg) => reg.sync?.register('fieldbook-sync')).catch(() => {});
  }
}

// -- service worker -----------------------------------------------------------------

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/', type: 'module' });
  const offerUpdate = (worker) => {
    banner(
      'update',
      h('p', { text: 'A new version of Fieldbook is ready.' }),
      h('button', { type: 'button', onclick: () => worker.postMessage({ type: 'skip-waiting' }) }, 'Update now'),
    );
  };
  if (reg.waiting && navigator.serviceWorker.controller) offerUpdate(reg.waiting);
  reg.addEventListener('updatefound', () => {
    const worker = reg.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed' && navigator.serviceWorker.controller) offerUpdate(worker);
    });
  });
  let reloading = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (reloading || !ctx.updateAccepted) return;
    reloading = true;
    location.reload();
  });
  document.addEventListener('click', (e) => {
    if (e.target.closest('#update button')) ctx.updateAccepted = true;
  });
}

// -- who is here --------------------------------------------------------------------

// Who the server says is signed in, against whom this phone's data belongs to.
async function whoIsHere(known) {
  let me = null;
  try {
    me = await api('GET', '/api/v1/auth/me');
    await csrfToken();
  } catch (error) {
    if (error instanceof SignedOut) {
      if (!known) {
        location.replace('/login');
        return null;
      }
      ctx.signedOut = true;
    } else if (!(error instanceof Offline) && !known) {
      throw error;
    } else {
      console.warn('could not ask who is signed in', error); // the phone works on with what it holds
    }
  }
  if (me && known && known.id !== me.id) {
    const { pending, held } = await store.counts();
    if (pending + held > 0) {
      ctx.blocked = { known, me, pending: pending + held };
      return known;
    }
    await store.wipe();
    ctx.wiped = true;
  }
  if (me) await store.setMeta('me', me);
  return me || known;
}

function showBlocked(main) {
  const { known, me, pending } = ctx.blocked;
  clear(
    main,
    h('h1', { text: 'Unsent changes of another account' }),
    h('p', { text: `This phone holds ${pending} change(s) made by ${known.name} (${known.email}) that have not reached the server. You are now signed in as ${me.email}.` }),
    h('p', { text: `Sign in as ${known.email} to send them, or discard them to continue.` }),
    h('div', { class: 'actions' },
      h('a', { class: 'button', href: '/login' }, `Sign in as ${known.email}`),
      h('button', { type: 'button', class: 'danger', onclick: async () => { await store.wipe(); location.reload(); } }, 'Discard them and continue')),
  );
}

async function start() {
  registerWorker().catch((error) => console.warn('service worker', error));
  const main = document.getElementById('main');
  const known = await store.getMeta('me');
  // A phone that knows its user opens at once; the server is asked alongside, not before.
  const checked = whoIsHere(known);
  ctx.me = known || (await checked);
  if (ctx.blocked) {
    showBlocked(main);
    return;
  }
  if (!ctx.me) {
    clear(main, h('h1', { text: 'No connection' }), h('p', { text: 'Fieldbook needs a connection once to sign in and fetch your data. Try again when you have a signal.' }),
      h('button', { type: 'button', onclick: () => location.reload() }, 'Try again'));
    return;
  }
  if (navigator.storage?.persist) navigator.storage.persisted().then((p) => p || navigator.storage.persist()).catch(() => {});

  window.addEventListener('hashchange', route);
  events.addEventListener('changed', (e) => {
    if (e.detail.local) schedulePush();
    if (!e.detail.local && ctx.syncing) {
      // Pulled pages arrive many times a second on a first sync: redraw once, at its end.
      ctx.refreshAfterSync = true;
      return;
    }
    refreshScreen();
    renderStatus(ctx);
  });
  events.addEventListener('sync-state', (e) => {
    ctx.syncState = e.detail;
    if (e.detail.state === 'signed-out' && !ctx.signedOut) {
      ctx.signedOut = true;
      banner('signed-out', h('p', { text: 'Your session has ended: your changes stay on this phone until you sign in again.' }), h('a', { class: 'button', href: '/login' }, 'Sign in'));
    }
    renderStatus(ctx);
  });
  window.addEventListener('online', () => { renderStatus(ctx); runSync(); });
  window.addEventListener('offline', () => renderStatus(ctx));
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') runSync(); });
  setInterval(() => { if (document.visibilityState === 'visible') runSync(); }, SYNC_EVERY_MS);
  setInterval(() => renderStatus(ctx), 30_000);

  await route();
  renderStatus(ctx);
  ctx.me = (await checked) || ctx.me;
  if (ctx.blocked) {
    showBlocked(main);
    return;
  }
  if (ctx.wiped) {
    location.reload(); // another account's data is gone: start clean
    return;
  }
  if (ctx.signedOut) banner('signed-out', h('p', { text: 'Your session has ended: your changes stay on this phone until you sign in again.' }), h('a', { class: 'button', href: '/login' }, 'Sign in'));
  else runSync();
}

start().catch((error) => {
  console.error(error);
  clear(document.getElementById('main'), h('h1', { text: 'Something went wrong' }), h('p', { class: 'error', text: String(error.message || error) }));
});
