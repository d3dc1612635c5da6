// A tiny history router: the server falls back to index.html for every
// non-API path, so /contacts/abc loads the app, which reads location here.
export const route = $state({ path: location.pathname, search: location.search });

function update() {
  route.path = location.pathname;
  route.search = location.search;
}

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState']({}, '', to);
  update();
  window.scrollTo(0, 0);
}

export function query(name) {
  return new URLSearchParams(route.search).get(name) || '';
}

// match('/contacts/:id', '/contacts/abc') -> {id: 'abc'} or null
export function match(pattern, path) {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

// Same-origin links inside the app navigate without a page load.
export function interceptLinks(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest?.('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/_/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

window.addEventListener('popstate', update);
