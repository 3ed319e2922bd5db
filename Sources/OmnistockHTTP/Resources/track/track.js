// The customer's tracking page: reads its token from its own address, shows the order from
// GET /v1/track/{token}, then follows GET /v1/track/{token}/stream (Server-Sent Events, from
// the ledger tail) so that it changes the moment the store acts, without a reload. French or
// English (the browser's language first; the buttons switch). Text only: nothing from the
// answer is ever read as HTML.

const TEXT = {
  en: {
    title: "Order tracking",
    order: (n) => `Order ${n}`,
    loading: "Loading your order…",
    unknown: "This link opens no order",
    unknownDetail: "It may have been mistyped, replaced by a newer link, or have expired.",
    tooMany: "Too many attempts",
    tooManyDetail: "Please wait a minute and try again.",
    failed: "Your order cannot be shown right now",
    failedDetail: "Please try again in a moment.",
    status: {
      allocated: "Order received",
      picking: "Being prepared",
      ready: "Ready for pickup",
      collected: "Collected",
      shipped: "Shipped",
      cancelled: "Cancelled",
      expired: "Not collected in time",
    },
    summary: {
      pickupOpen: (by) => `Promised ready by ${by}.`,
      ready: (store, until) => `Go to ${store}${until ? ` before ${until}` : ""} and give your pickup code.`,
      collected: (at) => `Collected on ${at}. Thank you!`,
      shipOpen: "We are preparing your parcel.",
      shipped: (at) => `Shipped on ${at}.`,
      cancelled: "This order was cancelled; nothing will be charged for what was not delivered.",
      expired: "The store could not keep your order any longer; its items were put back on sale.",
    },
    pickupTitle: "Pickup",
    promise: (by) => `Promised ready by ${by}`,
    readyAt: (at) => `Ready since ${at}`,
    waits: (until) => `Waits for you until ${until}`,
    map: "Open in my map app",
    shipmentsTitle: "Shipments",
    shipment: (carrier, tracking, at) => `${carrier} ${tracking} (${at})`,
    timelineTitle: "Progress",
    linesTitle: "Items",
    step: {
      placed: "Order placed",
      picking: "Preparation started",
      ready: "Ready for pickup",
      collected: "Collected",
      shipped: "Shipped",
      cancelled: "Cancelled",
      "line-not-found": "An item was not found in store",
      "transfer-received": "An item arrived from another store",
      expired: "Not collected in time",
      returned: "Items returned",
    },
    resourced: "another store sends it instead",
    line: {
      allocated: "reserved",
      "in-transit": "on its way to the store",
      shipped: "shipped",
      collected: "collected",
      cancelled: "cancelled",
      "not-found": "not found",
      expired: "released",
    },
    returnedUnits: (n) => `${n} returned`,
    live: "Updates live",
    reconnecting: "Reconnecting…",
  },
  fr: {
    title: "Suivi de commande",
    order: (n) => `Commande ${n}`,
    loading: "Chargement de votre commande…",
    unknown: "Ce lien n'ouvre aucune commande",
    unknownDetail: "Il a peut-être été mal recopié, remplacé par un lien plus récent, ou il a expiré.",
    tooMany: "Trop de tentatives",
    tooManyDetail: "Merci d'attendre une minute avant de réessayer.",
    failed: "Votre commande ne peut pas être affichée pour l'instant",
    failedDetail: "Merci de réessayer dans un instant.",
    status: {
      allocated: "Commande reçue",
      picking: "En préparation",
      ready: "Prête à retirer",
      collected: "Retirée",
      shipped: "Expédiée",
      cancelled: "Annulée",
      expired: "Non retirée à temps",
    },
    summary: {
      pickupOpen: (by) => `Promise prête avant ${by}.`,
      ready: (store, until) => `Rendez-vous à ${store}${until ? ` avant ${until}` : ""} avec votre code de retrait.`,
      collected: (at) => `Retirée le ${at}. Merci !`,
      shipOpen: "Nous préparons votre colis.",
      shipped: (at) => `Expédiée le ${at}.`,
      cancelled: "Cette commande a été annulée ; rien ne sera facturé pour ce qui n'a pas été livré.",
      expired: "Le magasin n'a pas pu garder votre commande plus longtemps ; ses articles ont été remis en vente.",
    },
    pickupTitle: "Retrait",
    promise: (by) => `Promise prête avant ${by}`,
    readyAt: (at) => `Prête depuis ${at}`,
    waits: (until) => `Vous attend jusqu'au ${until}`,
    map: "Ouvrir dans mon application de cartes",
    shipmentsTitle: "Expéditions",
    shipment: (carrier, tracking, at) => `${carrier} ${tracking} (${at})`,
    timelineTitle: "Avancement",
    linesTitle: "Articles",
    step: {
      placed: "Commande passée",
      picking: "Préparation commencée",
      ready: "Prête à retirer",
      collected: "Retirée",
      shipped: "Expédiée",
      cancelled: "Annulée",
      "line-not-found": "Un article est introuvable en magasin",
      "transfer-received": "Un article est arrivé d'un autre magasin",
      expired: "Non retirée à temps",
      returned: "Articles retournés",
    },
    resourced: "un autre magasin l'envoie à la place",
    line: {
      allocated: "réservé",
      "in-transit": "en route vers le magasin",
      shipped: "expédié",
      collected: "retiré",
      cancelled: "annulé",
      "not-found": "introuvable",
      expired: "libéré",
    },
    returnedUnits: (n) => `${n} retourné(s)`,
    live: "Mis à jour en direct",
    reconnecting: "Reconnexion…",
  },
};

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const api = `/v1/track/${encodeURIComponent(token)}`;
let lang = (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
let order = null;
let failure = null;
let liveState = "";

const $ = (id) => document.getElementById(id);
const when = (iso) => iso ? new Date(iso).toLocaleString(lang === "fr" ? "fr-FR" : "en-GB", {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
}) : "";

function setText(id, text) { $(id).textContent = text; }

function item(text, detail, className) {
  const li = document.createElement("li");
  const main = document.createElement("span");
  main.textContent = text;
  li.append(main);
  if (detail) {
    const small = document.createElement("span");
    small.className = className;
    small.textContent = detail;
    li.append(small);
  }
  return li;
}

function summary(t, o) {
  const store = o.pickup ? o.pickup.name : "";
  switch (o.status) {
    case "ready": return t.summary.ready(store, when(o.pickup && o.pickup.waitsUntil));
    case "collected": return t.summary.collected(when(o.endedAt));
    case "shipped": return t.summary.shipped(when(o.endedAt));
    case "cancelled": return t.summary.cancelled;
    case "expired": return t.summary.expired;
    default: return o.pickup ? t.summary.pickupOpen(when(o.pickup.readyBy)) : t.summary.shipOpen;
  }
}

function renderPickup(t, o) {
  $("pickup").hidden = !o.pickup;
  if (!o.pickup) return;
  setText("pickup-title", t.pickupTitle);
  setText("pickup-store", o.pickup.name);
  const lines = [o.pickup.readyAt ? t.readyAt(when(o.pickup.readyAt)) : t.promise(when(o.pickup.readyBy))];
  if (o.pickup.waitsUntil) lines.push(t.waits(when(o.pickup.waitsUntil)));
  setText("pickup-promise", lines.join(" · "));
  const map = $("pickup-map");
  map.href = o.pickup.geoUri;
  map.textContent = t.map;
}

function renderLists(t, o) {
  $("shipments").hidden = o.shipments.length === 0;
  setText("shipments-title", t.shipmentsTitle);
  $("shipment-list").replaceChildren(...o.shipments.map((s) => item(t.shipment(s.carrier, s.tracking, when(s.shippedAt)))));
  setText("timeline-title", t.timelineTitle);
  $("timeline").replaceChildren(...o.steps.map((s) => {
    let text = t.step[s.step] || s.step;
    if (s.sku) text += ` (${s.sku})`;
    if (s.replacedBy) text += ` — ${t.resourced}`;
    return item(text, when(s.at), "when");
  }));
  setText("lines-title", t.linesTitle);
  $("lines").replaceChildren(...o.lines.map((l) => {
    const state = [t.line[l.status] || l.status];
    if (l.returned > 0) state.push(t.returnedUnits(l.returned));
    return item(`${l.quantity} × ${l.sku}`, state.join(", "), "state");
  }));
}

function render() {
  const t = TEXT[lang];
  document.documentElement.lang = lang;
  document.title = t.title;
  setText("title", order ? t.order(order.orderNumber) : t.title);
  for (const code of ["fr", "en"]) $(`lang-${code}`).setAttribute("aria-pressed", String(code === lang));
  const status = $("status");
  if (!order) {
    const [head, detail] = failure === 404 ? [t.unknown, t.unknownDetail] : failure === 429 ? [t.tooMany, t.tooManyDetail]
      : failure ? [t.failed, t.failedDetail] : [t.loading, ""];
    status.className = failure ? "status stopped" : "status";
    setText("headline", head);
    setText("summary", detail);
    return;
  }
  status.className = order.status === "ready" ? "status ready" : ["cancelled", "expired"].includes(order.status) ? "status stopped" : "status";
  status.dataset.status = order.status;
  setText("headline", t.status[order.status] || order.status);
  setText("summary", summary(t, order));
  renderPickup(t, order);
  renderLists(t, order);
  setText("live", liveState === "live" ? t.live : liveState === "reconnecting" ? t.reconnecting : "");
}

function show(next) {
  // The stream and the first read may overlap: the newer position wins.
  if (!order || next.position >= order.position) order = next;
  render();
}

async function load() {
  try {
    const response = await fetch(api, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) {
      failure = response.status;
      render();
      return false;
    }
    show(await response.json());
    return true;
  } catch {
    failure = "network";
    render();
    return false;
  }
}

function follow() {
  const source = new EventSource(`${api}/stream`);
  source.addEventListener("order", (event) => {
    liveState = "live";
    show(JSON.parse(event.data));
  });
  source.addEventListener("open", () => { liveState = "live"; render(); });
  source.addEventListener("error", () => {
    // EventSource reconnects by itself; a link that stopped working (404) ends it for good.
    liveState = "reconnecting";
    render();
    if (source.readyState === EventSource.CLOSED) setTimeout(async () => { if (await load()) follow(); }, 5000);
  });
}

for (const code of ["fr", "en"]) {
  $(`lang-${code}`).addEventListener("click", () => { lang = code; render(); });
}
render();
if (await load()) follow();
