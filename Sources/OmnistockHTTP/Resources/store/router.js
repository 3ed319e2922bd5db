// Hash routes of the signed-in app (#/queue, #/order/<id>, #/collect, #/return, #/stock,
// #/kpis).
// The hash keeps the browser's back button and a reload on the same screen, and never holds
// the key. Leaving a screen disposes it (its timers, listeners and requests end with it).

const DEFAULT_PATH = '/queue';

export function createRouter({ routes, mount }) {
  let current = null;
  let active = false;

  function resolve() {
    const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : DEFAULT_PATH;
    for (const route of routes) {
      const match = route.pattern.exec(hash);
      if (match) return { route, params: route.params ? route.params(match) : {}, path: hash };
    }
    return { route: routes.find((route) => route.notFound), params: {}, path: hash };
  }

  function show(focus) {
    current?.screen.dispose();
    const { route, params, path } = resolve();
    const screen = route.screen(params);
    current = { screen, route };
    mount(screen, { name: route.name, path, focus });
  }

  const onHashChange = () => show(true);

  return {
    // focus: move the focus to the first screen's heading (after signing in).
    start({ focus = false } = {}) {
      if (active) return;
      active = true;
      window.addEventListener('hashchange', onHashChange);
      if (!location.hash.startsWith('#/')) history.replaceState(null, '', `#${DEFAULT_PATH}`);
      show(focus);
    },
    stop() {
      active = false;
      window.removeEventListener('hashchange', onHashChange);
      current?.screen.dispose();
      current = null;
    },
    // The same screen built again (a language switch), focus left where it is.
    refresh() {
      if (active) show(false);
    },
  };
}
