// The app shell: sign-in, the store choice, the header (store, live indicator, language,
// sign-out), the screen navigation, and the live order set every screen shares. It owns the
// session's lifecycle; the screens only show and act.

import { createApi } from '/store/api.js';
import { el, replaceChildren } from '/store/dom.js';
import { LANGUAGES, language, onLanguageChange, setLanguage, t, translateStatic } from '/store/i18n.js';
import * as idempotency from '/store/idempotency.js';
import { LiveOrders } from '/store/live-orders.js';
import { describeError, UserError } from '/store/notice.js';
import { createRouter } from '/store/router.js';
import { collectScreen } from '/store/screen-collect.js';
import { kpisScreen } from '/store/screen-kpis.js';
import { orderScreen } from '/store/screen-order.js';
import { queueScreen } from '/store/screen-queue.js';
import { returnScreen } from '/store/screen-return.js';
import { signInScreen } from '/store/screen-signin.js';
import { stockScreen } from '/store/screen-stock.js';
import { storeScreen } from '/store/screen-store.js';
import * as session from '/store/session.js';

// Counts page loads in this window: the browser test checks that live updates never reload.
window.__loadCount = (window.__loadCount ?? 0) + 1;

const LOCATION_PAGES = 20;
const STAFF_ROLES = ['store', 'admin'];

const $ = (id) => document.getElementById(id);
const ui = {
  main: $('main'),
  nav: $('screens'),
  storeInfo: $('store-info'),
  storeCurrent: $('store-current'),
  changeStore: $('change-store'),
  liveStatus: $('live-status'),
  liveText: $('live-text'),
  reconnect: $('reconnect'),
  language: $('language'),
  signOut: $('sign-out'),
  banner: $('service-banner'),
  skip: $('skip-link'),
};

// Everything that belongs to the signed-in session; reset by signOut().
let state = null;
// How to draw the current view again after a language switch.
let redraw = () => {};

const api = createApi({
  key: () => session.apiKey(),
  onUnauthorized: () => {
    if (state) signOut({ kind: 'error', key: 'error.unauthorized' });
  },
  onUnavailable: (retrying) => showBanner(retrying ? t('error.unavailable') : null),
});

function showBanner(text, action) {
  replaceChildren(ui.banner, text && el('p', { text }), action);
  ui.banner.classList.toggle('visible', Boolean(text));
}

// Puts a screen in <main> (the router disposes the screens it replaces). On navigation the
// screen's heading takes the focus, so keyboard and screen reader users start at the top of
// the new screen.
function mount(screen, { name, focus } = {}) {
  replaceChildren(ui.main, screen.node);
  document.title = `${screen.title} · ${t('app.name')}`;
  for (const link of ui.nav.querySelectorAll('a')) {
    const current = link.dataset.screen === name || (name === 'order' && link.dataset.screen === 'queue');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (focus) (screen.focus ?? screen.node.querySelector('h1'))?.focus();
}

function context() {
  return {
    api,
    live: state.live,
    store: state.store,
    stores: state.stores,
    role: state.me.role,
    locationName: (id) => state.locations.get(id)?.name ?? id,
  };
}

const router = createRouter({
  routes: [
    { name: 'queue', pattern: /^\/queue$/, screen: () => queueScreen(context()) },
    { name: 'order', pattern: /^\/order\/([^/]+)$/, params: (match) => ({ id: decodeURIComponent(match[1]) }), screen: (params) => orderScreen(context(), params) },
    { name: 'collect', pattern: /^\/collect$/, screen: () => collectScreen(context()) },
    { name: 'return', pattern: /^\/return$/, screen: () => returnScreen(context()) },
    { name: 'stock', pattern: /^\/stock$/, screen: () => stockScreen(context()) },
    { name: 'kpis', pattern: /^\/kpis$/, screen: () => kpisScreen(context()) },
    { name: 'missing', notFound: true, screen: missingScreen },
  ],
  mount,
});

function missingScreen() {
  const node = el('section', { class: 'screen card', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('app.notFound') }),
    el('p', {}, el('a', { href: '#/queue', text: t('app.backToQueue') })));
  return { node, title: t('app.notFound'), dispose() {} };
}

// ---- Signing in ------------------------------------------------------------------------

// Every location, for names and the store choice (a bounded number of pages).
async function readLocations(key) {
  const locations = new Map();
  let after;
  for (let page = 0; page < LOCATION_PAGES; page += 1) {
    const suffix = after ? `?limit=1000&after=${encodeURIComponent(after)}` : '?limit=1000';
    const answer = await api.get(`/v1/locations${suffix}`, { key });
    for (const location of answer.items ?? answer.locations ?? []) locations.set(location.id, location);
    after = answer.nextCursor ?? answer.next;
    if (!after) break;
  }
  return locations;
}

// The stores the key may work in: its bound stores, or every active store for an admin key.
function storesOf(me, locations) {
  if (me.locationIds === null || me.locationIds === undefined) {
    return [...locations.values()].filter((location) => location.kind === 'store' && location.active !== false);
  }
  return me.locationIds
    .map((id) => locations.get(id) ?? { id, name: id, kind: 'store' })
    .filter((location) => location.kind === 'store');
}

// Checks the key (GET /v1/me), then keeps it and goes on to the store; throws what the sign-in
// screen shows. `resuming`: the key came from this tab's session (a reload), so the screen in
// the URL is shown again; a fresh sign-in starts at the queue (the URL may name the order the
// last user had open).
async function signIn(key, { resuming = false } = {}) {
  const me = await api.get('/v1/me', { key });
  if (!STAFF_ROLES.includes(me.role)) throw new UserError(t('signin.wrongRole', { role: me.role }));
  const locations = await readLocations(key);
  const stores = storesOf(me, locations);
  if (stores.length === 0) throw new UserError(t('signin.noStores'));
  session.setApiKey(key);
  state = { me, locations, stores, store: null, live: null };
  const saved = stores.find((store) => store.id === session.storeId());
  if (saved || stores.length === 1) enterStore(saved ?? stores[0], { keepRoute: resuming });
  else chooseStore();
}

// `message` is {kind, key} (a dictionary key, so it follows a language switch) or {kind, text}.
function showSignIn(message) {
  setSignedIn(false);
  const draw = (focus) => {
    const shown = message && { kind: message.kind, text: message.key ? t(message.key) : message.text };
    mount(signInScreen({ signIn, message: shown }), { focus });
  };
  redraw = () => draw(false);
  draw(true);
}

function chooseStore() {
  leaveStore();
  setSignedIn(true);
  ui.nav.hidden = true;
  ui.storeInfo.hidden = true;
  const draw = (focus) => mount(storeScreen({ stores: state.stores, choose: enterStore }), { focus });
  redraw = () => draw(false);
  draw(true);
}

function enterStore(store, { keepRoute = false } = {}) {
  leaveStore();
  if (!keepRoute) history.replaceState(null, '', '#/queue');
  session.setStoreId(store.id);
  state.store = store;
  state.live = new LiveOrders({
    api,
    storeId: store.id,
    authorization: () => ({ Authorization: `Bearer ${session.apiKey() ?? ''}` }),
    onFatal: streamRefused,
  });
  state.live.addEventListener('status', () => showLiveStatus());
  setSignedIn(true);
  ui.storeInfo.hidden = false;
  ui.nav.hidden = false;
  ui.changeStore.hidden = state.stores.length < 2;
  showStore(store);
  redraw = () => {
    showStore(store);
    router.refresh();
  };
  router.start({ focus: true });
  startLive();
}

// The store's name and id in the header; "Store:" is for screen readers, the rest is plain.
function showStore(store) {
  replaceChildren(ui.storeCurrent,
    el('span', { class: 'visually-hidden', text: `${t('app.store')} ` }),
    el('span', { text: store.name }),
    el('span', { class: 'store-code', text: store.id }));
}

async function startLive() {
  const live = state.live;
  showBanner(null);
  try {
    await live.start();
  } catch (error) {
    if (state?.live !== live || error?.name === 'AbortError') return;
    const retry = el('button', { type: 'button', class: 'button secondary', text: t('live.reconnect') });
    retry.addEventListener('click', () => startLive());
    showBanner(describeError(error).text, retry);
    live.setStatus('offline');
  }
}

// A queue that never loaded is read again; a loaded one only needs its stream back.
function reconnect() {
  if (!state?.live) return;
  if (state.live.loaded) state.live.reconnect();
  else startLive();
}

function leaveStore() {
  router.stop();
  state?.live?.stop();
  if (state) state.live = null;
  ui.liveStatus.hidden = true;
}

// The stream refused the key: a 401 ends the session, anything else is shown.
function streamRefused(error) {
  if (error.status === 401) signOut({ kind: 'error', key: 'error.unauthorized' });
  else showBanner(describeError(error).text);
}

function signOut(message = { kind: 'info', key: 'signin.signedOut' }) {
  leaveStore();
  state = null;
  session.clear();
  idempotency.forgetAll();
  showBanner(null);
  showSignIn(message);
}

function setSignedIn(signedIn) {
  ui.signOut.hidden = !signedIn;
  if (!signedIn) {
    ui.nav.hidden = true;
    ui.storeInfo.hidden = true;
    ui.liveStatus.hidden = true;
  }
}

// ---- Header ------------------------------------------------------------------------------

const LIVE_CLASSES = { live: 'is-live', connecting: 'is-connecting', reconnecting: 'is-offline', offline: 'is-offline' };

function showLiveStatus() {
  const status = state?.live?.status ?? 'stopped';
  ui.liveStatus.hidden = status === 'stopped';
  ui.liveStatus.className = `live-status ${LIVE_CLASSES[status] ?? ''}`;
  ui.liveText.textContent = {
    live: t('live.live'),
    connecting: t('live.connecting'),
    reconnecting: t('live.offline'),
    offline: t('live.stopped'),
  }[status] ?? '';
  ui.reconnect.hidden = status !== 'offline';
}

function fillLanguages() {
  replaceChildren(ui.language, LANGUAGES.map(({ code, name }) => el('option', { value: code, lang: code, text: name, selected: code === language() })));
  ui.language.value = language();
}

function wireHeader() {
  fillLanguages();
  ui.language.addEventListener('change', () => setLanguage(ui.language.value));
  ui.signOut.addEventListener('click', () => signOut());
  ui.changeStore.addEventListener('click', () => chooseStore());
  ui.reconnect.addEventListener('click', () => reconnect());
  // The skip link moves the focus itself: following its #main would change the route.
  ui.skip.addEventListener('click', (event) => {
    event.preventDefault();
    ui.main.focus();
  });
  // Back from a dead network or a sleeping tablet: reconnect at once rather than waiting out
  // the backoff.
  window.addEventListener('online', () => {
    if (state?.live && state.live.status !== 'live') reconnect();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state?.live?.status === 'offline') reconnect();
  });
  onLanguageChange(() => {
    translateStatic(document);
    fillLanguages();
    showLiveStatus();
    redraw();
  });
}

// ---- Start -----------------------------------------------------------------------------

// A reload with a key in the session signs in again with it. A refused key (401, a role that
// is not staff) is forgotten; a service out of reach is not a reason to forget it: the tablet
// says so and offers to try again.
async function resume(key) {
  showBanner(null);
  ui.main.replaceChildren(el('p', { class: 'loading', text: t('app.loading') }));
  try {
    await signIn(key, { resuming: true });
  } catch (error) {
    state = null;
    if (error instanceof UserError || error?.status === 401 || error?.status === 403) {
      session.clear();
      showSignIn({ kind: 'error', text: describeError(error).text });
      return;
    }
    const retry = el('button', { type: 'button', class: 'button secondary', text: t('live.reconnect') });
    retry.addEventListener('click', () => resume(key));
    showBanner(describeError(error).text, retry);
    ui.main.replaceChildren();
    // Signing out stays possible, to sign in with another key instead.
    setSignedIn(true);
  }
}

function start() {
  translateStatic(document);
  wireHeader();
  const key = session.apiKey();
  if (key) resume(key);
  else showSignIn(null);
}

start();
