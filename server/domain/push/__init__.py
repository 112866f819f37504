"""Web push: VAPID keys, subscriptions, the message queue, reminders and the dispatcher."""
