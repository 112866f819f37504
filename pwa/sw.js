// Fieldbook's service worker: the precached app, offline navigation, and sync in the background.

import { syncNow } from './static/js/sync.js';

const VERSION = '1';
const CACHE = `fieldbook-static-${VERSION}`;
const SHELL = '/shell';

// Everything the app needs offline. tests/pwa check that each one is served.
export const PRECACHE = [
  SHELL,
  '/manifest.webmanifest',
  '/static/css/app.css',
  '/static/js/api.js',
  '/static/js/app.js',
  '/static/js/companies-screen.js',
  '/static/js/company-detail.js',
  '/static/js/conflicts-screen.js',
  '/static/js/contact-detail.js',
  '/static/js/contacts-screen.js',
  '/static/js/deal-detail.js',
  '/static/js/deals-screen.js',
  '/static/js/record-form.js',
  '/static/js/record-parts.js',
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
  if (request.mode === 'navigate') {
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
