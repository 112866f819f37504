// The gentle offer of push reminders, shown once after the first task is made.

import { offerAfterFirstTask, turnOn } from './push.js';
import { h, toast } from './ui.js';

export function offerReminders() {
  offerAfterFirstTask(() => {
    const box = h('div', { class: 'banner', id: 'reminder-offer', role: 'region', 'aria-label': 'Reminders' });
    const close = () => box.remove();
    box.append(
      h('p', { text: 'Get a notification on this phone when a follow-up is due?' }),
      h('button', { type: 'button', onclick: async () => {
        close();
        try {
          await turnOn();
          toast('Reminders are on.');
        } catch (error) {
          toast(error.message, { error: true });
        }
      } }, 'Turn on reminders'),
      h('button', { type: 'button', class: 'secondary', onclick: close }, 'Not now'));
    document.getElementById('banners').append(box);
  }).catch(() => {});
}
