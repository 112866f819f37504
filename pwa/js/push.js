// Reminders by web push on this phone: whether it can, subscribing and unsubscribing.

import * as store from './store.js';
import { api } from './api.js';

function b64urlToBytes(text) {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// What the phone can do, in words a rep understands.
export async function pushState() {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    return { state: 'unsupported', text: 'This browser cannot show reminders from Fieldbook. On an iPhone, add Fieldbook to the home screen first. Today still lists what is due.' };
  }
  if (Notification.permission === 'denied') {
    return { state: 'denied', text: 'Notifications are blocked for Fieldbook in this browser\'s settings. Today still lists what is due.' };
  }
  const reg = await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.getSubscription();
  if (sub && (await store.getMeta('pushEndpoint')) === sub.endpoint) return { state: 'on', text: 'Reminders are on for this phone.' };
  return { state: 'off', text: 'Reminders are off for this phone.' };
}

export async function turnOn() {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications were not allowed, so reminders stay off. Today still lists what is due.');
  const replica = await store.getMeta('replica');
  if (!replica) throw new Error('This phone is not set up yet: sync once, then try again.');
  const { public_key: key } = await api('GET', '/api/v1/push/key');
  const reg = await navigator.serviceWorker.ready;
  let sub;
  try {
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(key) });
  } catch (error) {
    throw new Error(`This browser could not reach its push service (${error.message}). Try again later.`);
  }
  await api('POST', '/api/v1/push/subscriptions', { ...sub.toJSON(), replica });
  await store.setMeta('pushEndpoint', sub.endpoint);
}

export async function turnOff() {
  const reg = await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.getSubscription();
  const replica = await store.getMeta('replica');
  if (replica) await api('DELETE', `/api/v1/push/subscriptions?replica=${encodeURIComponent(replica)}`);
  if (sub) await sub.unsubscribe();
  await store.setMeta('pushEndpoint', null);
}

// Offered once, gently, after the first task: never a permission prompt out of the blue.
export async function offerAfterFirstTask(show) {
  if ((await store.getMeta('pushOffered')) || !('Notification' in window) || Notification.permission !== 'default') return;
  await store.setMeta('pushOffered', Date.now());
  show();
}
