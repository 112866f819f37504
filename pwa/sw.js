// Fieldbook's service worker: the precached app, offline navigation, and sync in the background.

import { change, syncNow } from './static/js/sync.js';
import { getEntry, getMeta } from './static/js/store.js';

const VERSION = '5';
const CACHE = `fieldbook-static-${VERSION}`;
const SHELL = '/shell';

// Everything the app needs offline. tests/pwa check that each one is served.
export const PRECACHE = [
  SHELL,
  '/manifest.webmanifest',
  '/static/css/app.css',
  '/static/js/api.js',
  '/static/js/app.js',
  '/static/js/approval-ask.js',
  '/static/js/approval-status.js',
  '/static/js/approvals-screen.js',
  '/static/js/companies-screen.js',
  '/static/js/company-detail.js',
  '/static/js/conflicts-screen.js',
  '/static/js/contact-detail.js',
  '/static/js/contacts-screen.js',
  '/static/js/deal-detail.js',
  '/static/js/deal-history.js',
  '/static/js/deals-screen.js',
  '/static/js/record-form.js',
  '/static/js/push.js',
  '/static/js/record-parts.js',
  '/static/js/reminder-offer.js',
  '/static/js/rules.js',
  '/static/js/settings-screen.js',
  '/static/js/status-bar.js',
  '/static/js/store.js',
  '/static/js/sync-core.js',
  '/static/js/sync.js',
  '/static/js/task-detail.js',
  '/static/js/task-list.js',
  '/static/js/tasks-screen.js',
  '/static/js/today-screen.js',
  '/static/js/ui.js',
  '/static/js/visit-screen.js',
  '/static/icons/icon-192.png',
  '/static/icons/icon-512.png',
  '/static/icons/icon-maskable-512.png',
  '/static/icons/apple-touch-icon.png',
  '/static/icons/favicon-32.png',
];

// Pages the server must answer itself: signing in and out need the network.
const SERVER_PAGES = ['/login', '/logout', '/schema', '/api/', '/healthz'];
// Opened directly, files are files, not app pages.
const FILES = ['/static/', '/sw.js', '/manifest.webmanifest'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })))),
  );
  // The first install has nobody to disturb; an update waits for the user's "Update now".
  if (!self.registration.active) self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('fieldbook-static-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (SERVER_PAGES.some((p) => url.pathname.startsWith(p))) return;
  if (request.mode === 'navigate' && !FILES.some((p) => url.pathname.startsWith(p))) {
    // Every app page is the one shell: instant from the cache, signal or not.
    event.respondWith(caches.match(SHELL).then((hit) => hit || fetch(request)));
    return;
  }
  if (url.pathname.startsWith('/static/') || url.pathname === '/manifest.webmanifest') {
    event.respondWith(caches.match(request, { ignoreSearch: true }).then((hit) => hit || fetch(request)));
  }
});

// Background Sync: the outbox goes out when the signal returns, even with the app closed.
self.addEventListener('sync', (event) => {
  if (event.tag === 'fieldbook-sync') event.waitUntil(syncNow());
});

// -- reminders by push ---------------------------------------------------------------

self.addEventListener('push', (event) => {
  let message;
  try {
    message = event.data.json();
  } catch {
    message = { title: 'Fieldbook', body: event.data ? event.data.text() : '', url: '/' };
  }
  event.waitUntil(self.registration.showNotification(message.title || 'Fieldbook', {
    body: message.body || '',
    tag: message.tag,
    renotify: Boolean(message.tag),
    icon: '/static/icons/icon-192.png',
    badge: '/static/icons/favicon-32.png',
    data: message,
    actions: (message.actions || []).map(({ action, title }) => ({ action, title })),
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(notificationAction(event.action, event.notification.data || {}));
});

// Done and Snooze, Approve and Reject work with the app closed: they are edits of this phone's
// replica, synced now or queued for Background Sync when there is no signal.
async function notificationAction(action, message) {
  const record = message.record;
  if (record?.type === 'approval' && (action === 'approve' || action === 'reject')) {
    const [me, known] = await Promise.all([getMeta('me'), getEntry('approval', record.id)]);
    // Decided already (on this phone or, as far as it knows, elsewhere): show it instead.
    if (me && (!known || (known.v.status || 'pending') === 'pending')) {
      await change('approval', record.id, { status: action === 'approve' ? 'approved' : 'rejected', decided_by: me.id, comment: '' });
      await sendSoon();
      return;
    }
  }
  if (record?.type === 'task' && (action === 'done' || action === 'snooze')) {
    if (action === 'done') {
      await change('task', record.id, { done_at: new Date().toISOString() });
    } else {
      const minutes = message.actions?.find((a) => a.action === 'snooze')?.minutes || 60;
      await change('task', record.id, { remind_at: new Date(Date.now() + minutes * 60000).toISOString() });
    }
    await sendSoon();
    return;
  }
  const url = new URL(message.url || '/', self.location.origin).href;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (open) {
    await open.focus();
    return open.navigate(url);
  }
  return self.clients.openWindow(url);
}

async function sendSoon() {
  const sent = await syncNow().catch(() => false);
  if (!sent) await self.registration.sync?.register('fieldbook-sync').catch(() => {});
}
