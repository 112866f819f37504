"""Serves the installable app: the shell every screen runs in, the service worker at scope `/`, the manifest."""

from litestar import Controller, Response, get
from litestar.response import Template

from server.settings import PROJECT_ROOT

PWA = PROJECT_ROOT / "pwa"
#: Every answer here is revalidated, so a new service worker or shell is seen on the next visit.
NO_CACHE = {"Cache-Control": "no-cache"}

MANIFEST = {
    "name": "Fieldbook",
    "short_name": "Fieldbook",
    "description": "Contacts, deals and visits for field sales, with or without a signal.",
    "id": "/",
    "start_url": "/",
    "scope": "/",
    "display": "standalone",
    "orientation": "any",
    "theme_color": "#0b5394",
    "background_color": "#ffffff",
    "icons": [
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {"src": "/static/icons/icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
    ],
    "shortcuts": [
        {"name": "Log visit", "url": "/#/visit", "icons": [{"src": "/static/icons/icon-192.png", "sizes": "192x192"}]},
        {"name": "Today", "url": "/#/today", "icons": [{"src": "/static/icons/icon-192.png", "sizes": "192x192"}]},
    ],
}


class ShellController(Controller):
    path = "/"
    include_in_schema = False

    @get("/shell", operation_id="shell")
    async def shell(self) -> Template:
        # The same for everyone, signed in or not: the service worker caches it and the app asks who is there.
        return Template("app.html", headers=NO_CACHE)

    @get("/sw.js", operation_id="service_worker", media_type="text/javascript")
    async def service_worker(self) -> Response[bytes]:
        return Response((PWA / "sw.js").read_bytes(), media_type="text/javascript", headers=NO_CACHE)

    @get("/manifest.webmanifest", operation_id="manifest")
    async def manifest(self) -> Response[dict]:
        return Response(MANIFEST, media_type="application/manifest+json", headers=NO_CACHE)
