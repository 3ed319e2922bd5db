// Every string the store app shows, in English and French, and the current language.
// Screens never hold text of their own: they ask t() for a key, so a language switch only
// has to render the screen again. Keys ending in a plural category (".one", ".other") are
// chosen with Intl.PluralRules from the `count` parameter.

const dictionaries = {
  en: {
    'app.name': 'Omnistock Store',
    'app.skip': 'Skip to content',
    'app.language': 'Language',
    'app.screens': 'Screens',
    'app.loading': 'Loading…',
    'app.store': 'Store:',
    'app.changeStore': 'Change store',
    'app.signOut': 'Sign out',
    'app.notFound': 'This screen does not exist.',
    'app.backToQueue': 'Back to the queue',

    'nav.queue': 'Queue',
    'nav.collect': 'Collect',
    'nav.return': 'Return',
    'nav.stock': 'Stock',

    'live.connecting': 'Connecting…',
    'live.live': 'Live',
    'live.offline': 'Offline — reconnecting',
    'live.stopped': 'Offline',
    'live.reconnect': 'Reconnect',

    'signin.title': 'Sign in',
    'signin.intro': 'Type the store key you were given. It stays in this browser tab only and is forgotten when you sign out or close the tab.',
    'signin.key': 'Store key',
    'signin.submit': 'Sign in',
    'signin.checking': 'Checking the key…',
    'signin.empty': 'Type a key first.',
    'signin.wrongRole': 'This app is for store staff: sign in with a store key (this one is a {role} key).',
    'signin.noStores': 'This key is not bound to any store.',
    'signin.signedOut': 'You are signed out.',

    'store.title': 'Choose your store',
    'store.intro': 'Your key works in several stores. Which one are you working in?',
    'store.none': 'No store is defined yet.',

    'status.allocated': 'Allocated',
    'status.picking': 'Picking',
    'status.ready': 'Ready',
    'status.collected': 'Collected',
    'status.shipped': 'Shipped',
    'status.cancelled': 'Cancelled',
    'status.expired': 'Expired',
    'status.in-transit': 'In transit',
    'status.not-found': 'Not found',
    'status.received': 'Received',

    'queue.title': 'Queue',
    'queue.summary.one': '{count} open order',
    'queue.summary.other': '{count} open orders',
    'queue.countsLabel': 'Orders per status',
    'queue.count.allocated': 'Allocated',
    'queue.count.picking': 'Picking',
    'queue.count.ready': 'Ready',
    'queue.count.late': 'Late',
    'queue.empty': 'No open orders. New orders appear here as they arrive.',
    'queue.loading': 'Loading the queue…',
    'queue.lines.one': '{count} line',
    'queue.lines.other': '{count} lines',
    'queue.items.one': '{count} item',
    'queue.items.other': '{count} items',
    'queue.age': 'Ordered {duration} ago',
    'queue.timeLeft': '{duration} left',
    'queue.lateBy': 'Late by {duration}',
    'queue.readyOnTime': 'Ready on time',
    'queue.readyLate': 'Ready, {duration} late',
    'queue.noPromise': 'Shipping order',
    'queue.late': 'Late',
    'queue.noReference': 'No reference',
    'queue.listLabel': 'Open orders, oldest promise first',

    'order.title': 'Order {number}',
    'order.back': 'Queue',
    'order.reference': 'Customer reference',
    'order.readyBy': 'Ready by',
    'order.created': 'Ordered',
    'order.fulfilment': 'Fulfilment',
    'order.pickupHere': 'Click & collect here',
    'order.pickupAt': 'Click & collect at {name}',
    'order.ship': 'Shipped to the customer',
    'order.locked': 'Locked after too many wrong codes',
    'order.lines': 'Lines',
    'order.col.sku': 'SKU',
    'order.col.quantity': 'Quantity',
    'order.col.status': 'Status',
    'order.col.where': 'Where',
    'order.col.action': 'Action',
    'order.where.here': 'Here',
    'order.where.transit': 'In transit from {name}',
    'order.where.transitShort': 'In transit',
    'order.replacedBy': 'Replaced by line {line}',
    'order.replaces': 'Replaces line {line}',
    'order.startPicking': 'Start picking',
    'order.markReady': 'Mark ready',
    'order.notFound': 'Not found',
    'order.notFoundLabel': 'Not found: {sku}',
    'order.cancel': 'Cancel',
    'order.nowPicking': 'Picking started.',
    'order.nowReady': 'Marked ready: the customer is told the order can be collected.',
    'order.cancelled': 'The order is cancelled; its stock is available again.',
    'order.confirmNotFound.title': 'Report {sku} as not found?',
    'order.confirmNotFound.body': 'The units are written off here and the line is re-sourced from another location, or cancelled when none has it.',
    'order.confirmNotFound.ok': 'Report not found',
    'order.confirmCancel.title': 'Cancel order {number}?',
    'order.confirmCancel.body': 'Every line is cancelled and its stock is released. This cannot be undone.',
    'order.confirmCancel.ok': 'Cancel the order',
    'order.confirmCancel.reason': 'Reason',
    'order.reason.customer': 'The customer asked',
    'order.reason.damaged': 'Goods damaged',
    'order.reason.store': 'Other store reason',
    'order.resourced': 'Line {line} ({sku}) is re-sourced: {where}.',
    'order.resourcedFrom': '{quantity} from {name}, in transit to this store',
    'order.resourcedAt': '{quantity} at {name}',
    'order.notFoundCancelled': 'Line {line} ({sku}) is cancelled: no other location can serve it.',
    'order.orderCancelledStock': 'Every line is cancelled for want of stock, so the order is cancelled.',
    'order.gone': 'This order is not in the queue any more.',
    'order.wrongCodes.one': '{count} wrong pickup code so far',
    'order.wrongCodes.other': '{count} wrong pickup codes so far',

    'dialog.back': 'Go back',

    'collect.title': 'Collect',
    'collect.filter': 'Order number or reference',
    'collect.filterHint': 'Ready orders of this store',
    'collect.empty': 'No order is ready for collection.',
    'collect.noMatch': 'No ready order matches “{filter}”.',
    'collect.choose': 'Choose the customer’s order in the list.',
    'collect.code': 'Pickup code',
    'collect.codeHint': '8 characters, shown by the customer',
    'collect.submit': 'Hand over',
    'collect.scan': 'Scan',
    'collect.stopScan': 'Stop scanning',
    'collect.scanning': 'Point the camera at the customer’s code.',
    'collect.scanFailed': 'The camera could not be used: {reason}',
    'collect.emptyCode': 'Type the pickup code first.',
    'collect.wrong.one': 'Wrong code, {count} attempt left',
    'collect.wrong.other': 'Wrong code, {count} attempts left',
    'collect.locked': 'Locked after too many wrong codes',
    'collect.lockedHint': 'Check the customer’s identity, then unlock the order so the code can be tried again.',
    'collect.unlock': 'Unlock',
    'collect.unlocked': 'Unlocked: the customer may show the code again.',
    'collect.collected': 'Collected: order {number} is handed over.',
    'collect.selected': 'Order {number}',
    'collect.readySince': 'Ready since {time}',

    'return.title': 'Return',
    'return.number': 'Order number',
    'return.find': 'Find order',
    'return.intro': 'Web and store orders can be returned here, whichever store they came from.',
    'return.order': 'Order {number}',
    'return.nothing': 'Nothing of this order can be returned: nothing was handed over, or it is all back already.',
    'return.col.sku': 'SKU',
    'return.col.bought': 'Quantity',
    'return.col.returnable': 'Returnable',
    'return.col.quantity': 'Quantity back',
    'return.col.condition': 'Condition',
    'return.quantityLabel': 'Quantity of {sku} taken back',
    'return.conditionLabel': 'Condition of {sku}',
    'return.restock': 'Back to stock',
    'return.damaged': 'Damaged, set aside',
    'return.submit': 'Record return',
    'return.noneChosen': 'Choose at least one unit to take back.',
    'return.done': 'Returned: {restocked} restocked, {damaged} set aside',
    'return.notFound': 'No order has the number {number}.',
    'return.emptyNumber': 'Type the order number first.',

    'stock.title': 'Stock',
    'stock.sku': 'SKU',
    'stock.lookup': 'Look up',
    'stock.emptySku': 'Type a SKU first.',
    'stock.here': 'Here: {name}',
    'stock.onHand': 'On hand',
    'stock.held': 'Held',
    'stock.allocated': 'Allocated',
    'stock.available': 'Available',
    'stock.incoming': 'Incoming',
    'stock.nearest': 'Nearest stores',
    'stock.noNearest': 'No other store has {sku} available.',
    'stock.col.store': 'Store',
    'stock.col.available': 'Available',
    'stock.col.distance': 'Distance',
    'stock.km': '{distance} km',
    'stock.transfers': 'Transfers on their way here',
    'stock.noTransfers': 'No transfer is on its way to this store.',
    'stock.transferFrom': 'From {name}',
    'stock.dispatched': 'Dispatched {time}',
    'stock.reference': 'Reference {reference}',
    'stock.forOrder': 'For a customer order',
    'stock.col.sent': 'Sent',
    'stock.col.arrived': 'Arrived',
    'stock.arrivedLabel': 'Units of {sku} that arrived',
    'stock.receive': 'Receive',
    'stock.received.one': 'Received: {count} unit is on hand here.',
    'stock.received.other': 'Received: {count} units are on hand here.',
    'stock.receivedLost': '{count} sent did not arrive and are recorded as lost.',

    'error.unauthorized': 'The key is unknown or revoked',
    'error.forbidden': 'This key may not do that.',
    'error.unavailable': 'The service is unavailable, retrying',
    'error.unavailableGaveUp': 'The service is unavailable. Try again in a moment.',
    'error.network': 'The service cannot be reached. Check the network, then try again.',
    'error.timeout': 'The service took too long to answer. Try again.',
    'error.http': 'The service answered with an error ({status}).',
    'error.unexpected': 'Something went wrong: {message}',

    'time.lessThanMinute': 'under 1 min',
    'time.minutes': '{m} min',
    'time.hours': '{h} h',
    'time.hoursMinutes': '{h} h {m} min',
    'time.days': '{d} d {h} h',
  },

  fr: {
    'app.name': 'Omnistock Magasin',
    'app.skip': 'Aller au contenu',
    'app.language': 'Langue',
    'app.screens': 'Écrans',
    'app.loading': 'Chargement…',
    'app.store': 'Magasin :',
    'app.changeStore': 'Changer de magasin',
    'app.signOut': 'Se déconnecter',
    'app.notFound': 'Cet écran n’existe pas.',
    'app.backToQueue': 'Retour à la file d’attente',

    'nav.queue': 'File d’attente',
    'nav.collect': 'Retrait',
    'nav.return': 'Retour',
    'nav.stock': 'Stock',

    'live.connecting': 'Connexion…',
    'live.live': 'En direct',
    'live.offline': 'Hors ligne — reconnexion',
    'live.stopped': 'Hors ligne',
    'live.reconnect': 'Se reconnecter',

    'signin.title': 'Connexion',
    'signin.intro': 'Saisissez la clé du magasin qui vous a été remise. Elle reste dans cet onglet seulement et est oubliée à la déconnexion ou à la fermeture de l’onglet.',
    'signin.key': 'Clé du magasin',
    'signin.submit': 'Se connecter',
    'signin.checking': 'Vérification de la clé…',
    'signin.empty': 'Saisissez d’abord une clé.',
    'signin.wrongRole': 'Cette application est destinée au personnel des magasins : connectez-vous avec une clé de magasin (celle-ci est une clé {role}).',
    'signin.noStores': 'Cette clé n’est liée à aucun magasin.',
    'signin.signedOut': 'Vous êtes déconnecté.',

    'store.title': 'Choisissez votre magasin',
    'store.intro': 'Votre clé est valable dans plusieurs magasins. Dans lequel travaillez-vous ?',
    'store.none': 'Aucun magasin n’est encore défini.',

    'status.allocated': 'À préparer',
    'status.picking': 'En préparation',
    'status.ready': 'Prête',
    'status.collected': 'Retirée',
    'status.shipped': 'Expédiée',
    'status.cancelled': 'Annulée',
    'status.expired': 'Expirée',
    'status.in-transit': 'En transit',
    'status.not-found': 'Introuvable',
    'status.received': 'Reçu',

    'queue.title': 'File d’attente',
    'queue.summary.one': '{count} commande ouverte',
    'queue.summary.other': '{count} commandes ouvertes',
    'queue.countsLabel': 'Commandes par statut',
    'queue.count.allocated': 'À préparer',
    'queue.count.picking': 'En préparation',
    'queue.count.ready': 'Prêtes',
    'queue.count.late': 'En retard',
    'queue.empty': 'Aucune commande ouverte. Les nouvelles commandes s’affichent ici dès leur arrivée.',
    'queue.loading': 'Chargement de la file…',
    'queue.lines.one': '{count} ligne',
    'queue.lines.other': '{count} lignes',
    'queue.items.one': '{count} article',
    'queue.items.other': '{count} articles',
    'queue.age': 'Commandée il y a {duration}',
    'queue.timeLeft': 'Reste {duration}',
    'queue.lateBy': 'En retard de {duration}',
    'queue.readyOnTime': 'Prête à temps',
    'queue.readyLate': 'Prête, {duration} de retard',
    'queue.noPromise': 'Commande à expédier',
    'queue.late': 'En retard',
    'queue.noReference': 'Sans référence',
    'queue.listLabel': 'Commandes ouvertes, la promesse la plus ancienne d’abord',

    'order.title': 'Commande {number}',
    'order.back': 'File d’attente',
    'order.reference': 'Référence client',
    'order.readyBy': 'Prête pour',
    'order.created': 'Commandée',
    'order.fulfilment': 'Livraison',
    'order.pickupHere': 'Retrait ici',
    'order.pickupAt': 'Retrait à {name}',
    'order.ship': 'Expédiée au client',
    'order.locked': 'Bloquée après trop de codes erronés',
    'order.lines': 'Lignes',
    'order.col.sku': 'Référence article',
    'order.col.quantity': 'Quantité',
    'order.col.status': 'Statut',
    'order.col.where': 'Emplacement',
    'order.col.action': 'Action',
    'order.where.here': 'Ici',
    'order.where.transit': 'En transit depuis {name}',
    'order.where.transitShort': 'En transit',
    'order.replacedBy': 'Remplacée par la ligne {line}',
    'order.replaces': 'Remplace la ligne {line}',
    'order.startPicking': 'Commencer la préparation',
    'order.markReady': 'Marquer prête',
    'order.notFound': 'Introuvable',
    'order.notFoundLabel': 'Introuvable : {sku}',
    'order.cancel': 'Annuler',
    'order.nowPicking': 'Préparation commencée.',
    'order.nowReady': 'Marquée prête : le client est prévenu qu’il peut la retirer.',
    'order.cancelled': 'La commande est annulée ; son stock est de nouveau disponible.',
    'order.confirmNotFound.title': 'Signaler {sku} introuvable ?',
    'order.confirmNotFound.body': 'Les unités sont sorties du stock ici et la ligne est servie par un autre site, ou annulée si aucun ne l’a.',
    'order.confirmNotFound.ok': 'Signaler introuvable',
    'order.confirmCancel.title': 'Annuler la commande {number} ?',
    'order.confirmCancel.body': 'Toutes les lignes sont annulées et leur stock est libéré. C’est définitif.',
    'order.confirmCancel.ok': 'Annuler la commande',
    'order.confirmCancel.reason': 'Motif',
    'order.reason.customer': 'À la demande du client',
    'order.reason.damaged': 'Articles abîmés',
    'order.reason.store': 'Autre motif du magasin',
    'order.resourced': 'La ligne {line} ({sku}) est servie ailleurs : {where}.',
    'order.resourcedFrom': '{quantity} depuis {name}, en transit vers ce magasin',
    'order.resourcedAt': '{quantity} à {name}',
    'order.notFoundCancelled': 'La ligne {line} ({sku}) est annulée : aucun autre site ne peut la servir.',
    'order.orderCancelledStock': 'Toutes les lignes sont annulées faute de stock : la commande est annulée.',
    'order.gone': 'Cette commande n’est plus dans la file.',
    'order.wrongCodes.one': '{count} code de retrait erroné jusqu’ici',
    'order.wrongCodes.other': '{count} codes de retrait erronés jusqu’ici',

    'dialog.back': 'Revenir',

    'collect.title': 'Retrait',
    'collect.filter': 'Numéro de commande ou référence',
    'collect.filterHint': 'Commandes prêtes de ce magasin',
    'collect.empty': 'Aucune commande n’est prête à être retirée.',
    'collect.noMatch': 'Aucune commande prête ne correspond à « {filter} ».',
    'collect.choose': 'Choisissez la commande du client dans la liste.',
    'collect.code': 'Code de retrait',
    'collect.codeHint': '8 caractères, présentés par le client',
    'collect.submit': 'Remettre',
    'collect.scan': 'Scanner',
    'collect.stopScan': 'Arrêter le scan',
    'collect.scanning': 'Visez le code du client avec la caméra.',
    'collect.scanFailed': 'La caméra n’a pas pu être utilisée : {reason}',
    'collect.emptyCode': 'Saisissez d’abord le code de retrait.',
    'collect.wrong.one': 'Code erroné, {count} essai restant',
    'collect.wrong.other': 'Code erroné, {count} essais restants',
    'collect.locked': 'Bloquée après trop de codes erronés',
    'collect.lockedHint': 'Vérifiez l’identité du client, puis débloquez la commande pour qu’il puisse présenter le code à nouveau.',
    'collect.unlock': 'Débloquer',
    'collect.unlocked': 'Débloquée : le client peut présenter le code à nouveau.',
    'collect.collected': 'Retirée : la commande {number} est remise.',
    'collect.selected': 'Commande {number}',
    'collect.readySince': 'Prête depuis {time}',

    'return.title': 'Retour',
    'return.number': 'Numéro de commande',
    'return.find': 'Chercher la commande',
    'return.intro': 'Les commandes web et magasin peuvent être retournées ici, quel que soit le magasin d’origine.',
    'return.order': 'Commande {number}',
    'return.nothing': 'Rien de cette commande ne peut être retourné : rien n’a été remis, ou tout est déjà revenu.',
    'return.col.sku': 'Référence article',
    'return.col.bought': 'Quantité',
    'return.col.returnable': 'Retournable',
    'return.col.quantity': 'Quantité reprise',
    'return.col.condition': 'État',
    'return.quantityLabel': 'Quantité de {sku} reprise',
    'return.conditionLabel': 'État de {sku}',
    'return.restock': 'Remis en stock',
    'return.damaged': 'Abîmé, mis de côté',
    'return.submit': 'Enregistrer le retour',
    'return.noneChosen': 'Choisissez au moins une unité à reprendre.',
    'return.done': 'Retour enregistré : {restocked} remis en stock, {damaged} mis de côté',
    'return.notFound': 'Aucune commande ne porte le numéro {number}.',
    'return.emptyNumber': 'Saisissez d’abord le numéro de commande.',

    'stock.title': 'Stock',
    'stock.sku': 'Référence article',
    'stock.lookup': 'Consulter',
    'stock.emptySku': 'Saisissez d’abord une référence.',
    'stock.here': 'Ici : {name}',
    'stock.onHand': 'En stock',
    'stock.held': 'Réservé',
    'stock.allocated': 'Alloué',
    'stock.available': 'Disponible',
    'stock.incoming': 'À recevoir',
    'stock.nearest': 'Magasins les plus proches',
    'stock.noNearest': 'Aucun autre magasin n’a {sku} disponible.',
    'stock.col.store': 'Magasin',
    'stock.col.available': 'Disponible',
    'stock.col.distance': 'Distance',
    'stock.km': '{distance} km',
    'stock.transfers': 'Transferts en route vers ce magasin',
    'stock.noTransfers': 'Aucun transfert n’est en route vers ce magasin.',
    'stock.transferFrom': 'Depuis {name}',
    'stock.dispatched': 'Expédié {time}',
    'stock.reference': 'Référence {reference}',
    'stock.forOrder': 'Pour une commande client',
    'stock.col.sent': 'Envoyé',
    'stock.col.arrived': 'Arrivé',
    'stock.arrivedLabel': 'Unités de {sku} arrivées',
    'stock.receive': 'Réceptionner',
    'stock.received.one': 'Réceptionné : {count} unité est en stock ici.',
    'stock.received.other': 'Réceptionné : {count} unités sont en stock ici.',
    'stock.receivedLost': '{count} envoyées ne sont pas arrivées et sont enregistrées comme perdues.',

    'error.unauthorized': 'La clé est inconnue ou révoquée',
    'error.forbidden': 'Cette clé ne permet pas de faire cela.',
    'error.unavailable': 'Le service est indisponible, nouvel essai en cours',
    'error.unavailableGaveUp': 'Le service est indisponible. Réessayez dans un instant.',
    'error.network': 'Le service est injoignable. Vérifiez le réseau, puis réessayez.',
    'error.timeout': 'Le service a mis trop de temps à répondre. Réessayez.',
    'error.http': 'Le service a répondu par une erreur ({status}).',
    'error.unexpected': 'Une erreur est survenue : {message}',

    'time.lessThanMinute': 'moins d’1 min',
    'time.minutes': '{m} min',
    'time.hours': '{h} h',
    'time.hoursMinutes': '{h} h {m} min',
    'time.days': '{d} j {h} h',
  },
};

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'fr', name: 'Français' },
];

const STORAGE_KEY = 'omnistock.store.language';
const changes = new EventTarget();
let current = initialLanguage();

// The saved choice wins; otherwise the browser's language decides (fr* is French, anything
// else English). localStorage may be refused (private modes), so reading it must not throw.
function initialLanguage() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && dictionaries[saved]) return saved;
  } catch {
    // Storage is unavailable; fall back to the browser's language.
  }
  return (navigator.language || 'en').toLowerCase().startsWith('fr') ? 'fr' : 'en';
}

export function language() {
  return current;
}

// The locale used by Intl formatters: the app's language, not the browser's, so that dates
// and numbers match the words around them.
export function locale() {
  return current === 'fr' ? 'fr-FR' : 'en-GB';
}

export function setLanguage(code) {
  if (!dictionaries[code] || code === current) return;
  current = code;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // Not saved: the choice still holds for this page.
  }
  document.documentElement.lang = code;
  changes.dispatchEvent(new Event('change'));
}

export function onLanguageChange(listener) {
  changes.addEventListener('change', listener);
  return () => changes.removeEventListener('change', listener);
}

// t('queue.lines', {count: 2}) looks up 'queue.lines.other'; a missing key shows itself, so a
// forgotten string is visible in review rather than silently blank.
export function t(key, params = {}) {
  const dictionary = dictionaries[current];
  let template = dictionary[key];
  if (template === undefined && typeof params.count === 'number') {
    const category = new Intl.PluralRules(locale()).select(params.count);
    template = dictionary[`${key}.${category}`] ?? dictionary[`${key}.other`];
  }
  template ??= dictionaries.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

// Fills the static markup of index.html: data-i18n sets the text, data-i18n-label the
// aria-label.
export function translateStatic(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
}

document.documentElement.lang = current;
