"""The phone app itself: its HTML shell, service worker and web app manifest."""
