// The dashboard's service worker: when the network drops (a router on 4G in a barn), the page
// still opens and shows the last fleet it saw, marked stale. Everything is fetched from the
// network first; the cache is only the fallback, so an online page is never behind.
//
// - The page's files: network first, the cached copy when the network fails.
// - The fleet, the open alerts and the signed-in user (GET only): network first, and the last
//   answer kept; served from the cache when the network fails, with `X-Boom-Stale` saying when
//   it was fetched. A 401 is never replaced by a cached answer.
// - Signing out empties the cache of answers (the page posts `signed-out`).

const SHELL = 'boom-shell-v1';
const ANSWERS = 'boom-answers-v1';
const FILES = ['/', '/app.js', '/app.css', '/charts.js', '/manifest.webmanifest', '/icon.svg'];
const KEPT = [/^\/api\/photomatons\?limit=1000$/, /^\/api\/alerts\?state=open&limit=500$/, /^\/api\/auth\/me$/];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== SHELL && n !== ANSWERS).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener('message', (event) => {
  if (event.data === 'signed-out') event.waitUntil(caches.delete(ANSWERS));
});

async function fromNetwork(request, cacheName) {
  try {
    const response = await fetch(request);
    if (response.ok) {
      const copy = response.clone();
      const headers = new Headers(copy.headers);
      headers.set('x-boom-fetched', new Date().toISOString());
      const body = await copy.blob();
      const cache = await caches.open(cacheName);
      await cache.put(request, new Response(body, { status: copy.status, statusText: copy.statusText, headers }));
    } else if (response.status === 401 && cacheName === ANSWERS) {
      await caches.delete(ANSWERS);
    }
    return response;
  } catch (error) {
    const cached = await caches.match(request, { cacheName });
    if (!cached) throw error;
    const headers = new Headers(cached.headers);
    headers.set('x-boom-stale', cached.headers.get('x-boom-fetched') || 'unknown');
    return new Response(await cached.blob(), { status: cached.status, statusText: cached.statusText, headers });
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname + url.search;
  if (KEPT.some((re) => re.test(path))) event.respondWith(fromNetwork(request, ANSWERS));
  else if (FILES.includes(url.pathname) && !url.search) event.respondWith(fromNetwork(request, SHELL));
});
