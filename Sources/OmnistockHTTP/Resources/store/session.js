// The signed-in state of this browser tab: the API key and the chosen store. Both live in
// sessionStorage only, so they die with the tab and never reach a URL, a cookie or
// localStorage (which other tabs and later visitors of a shared tablet could read).

const KEY = 'omnistock.store.apiKey';
const STORE = 'omnistock.store.locationId';

function read(name) {
  try {
    return sessionStorage.getItem(name);
  } catch {
    return null;
  }
}

function write(name, value) {
  try {
    if (value === null) sessionStorage.removeItem(name);
    else sessionStorage.setItem(name, value);
  } catch {
    // Storage refused: the session then lasts as long as the page.
  }
}

export function apiKey() {
  return read(KEY);
}

export function setApiKey(value) {
  write(KEY, value);
}

export function storeId() {
  return read(STORE);
}

export function setStoreId(value) {
  write(STORE, value);
}

export function clear() {
  write(KEY, null);
  write(STORE, null);
}
