#!/usr/bin/env python3
"""The customer's tracking page (`/track/{token}`) in a real browser: headless Chromium driven
by Selenium (Debian's /usr/bin/chromium and /usr/bin/chromedriver, as scripts/store-app.py).

One `oms serve` on an embedded cluster in a temporary folder; an admin key defines the store
PAR-01, receives stock and places a pickup order, whose answer carries the tracking link.
   1. /track/{token} answers 200 with the strict Content-Security-Policy and no referrer; its
      script and style come from /track/files/ and every request the browser made went to
      127.0.0.1 (nothing from outside).
   2. At phone size (390x844) the page shows the order received, the store, the promise and
      "Updates live" (its stream is connected).
   3. The store marks the order ready through the API: within 2 s, without a reload (a marker
      set in the page survives), the page says it is ready, where to go (the store's name) and
      until when, with a `geo:` link to the store's position.
   4. FR switches the page to French (`lang`, the headline), EN back.
   5. Collected through the API: the page follows; its timeline is placed, ready, collected.
   6. An unknown token's page says the link opens no order; a revoked link too.
   7. No console error but the 404s this test asks for on purpose.
Screenshots at 390x844 (received, ready, French) go to .build/screenshots/track-*.png.
Loopback only; every wait is bounded (about a minute). `OMS_BIN` picks the binary.
"""
import json, os, subprocess, sys, tempfile, time, urllib.request

from campaign import OMS, ROOT, Checks, create_key, finish, start_oms, stop_oms

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    sys.exit("track-page: FAIL selenium is missing (bash scripts/ensure-tools.sh installs the pinned one)")

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PHONE = (390, 844)
LIVE_SECONDS = 2
SHOTS = os.path.join(ROOT, ".build", "screenshots")
check = Checks("track-page")


def api(base, method, path, key=None, body=None, idempotency_key=None):
    """(status, headers, parsed body) of one call."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), (json.loads(raw) if raw and raw[:1] in b"{[" else raw.decode())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode(errors="replace")


def browser(work):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en-GB", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-default-apps", "--disable-sync",
                     f"--window-size={PHONE[0]},{PHONE[1]}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-GB,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER, log_output=os.path.join(work, "chromedriver.log")), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})
    return driver


def text(driver, element_id):
    try:
        return driver.find_element(By.ID, element_id).text
    except WebDriverException:
        return ""


def wait_text(driver, element_id, wanted, seconds):
    """Waits until the element's text contains `wanted`; the seconds it took, or None."""
    started = time.monotonic()
    try:
        WebDriverWait(driver, seconds, poll_frequency=0.05).until(lambda d: wanted in text(d, element_id))
        return time.monotonic() - started
    except TimeoutException:
        return None


def shoot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SHOTS, f"track-{name}.png"))


def setup(base, key):
    """The store, its stock and a pickup order; the order's id and tracking path."""
    api(base, "PUT", "/v1/locations/PAR-01", key, {
        "name": "Paris Rivoli", "kind": "store", "latitude": 48.8606, "longitude": 2.3376,
        "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 200})
    api(base, "POST", "/v1/stock/movements", key, {"movements": [
        {"sku": "JACKET-M", "locationId": "PAR-01", "kind": "receipt", "quantity": 5}]}, "track-stock")
    status, _, order = api(base, "POST", "/v1/orders", key, {
        "orderNumber": "WEB-9001", "lines": [{"sku": "JACKET-M", "quantity": 1}],
        "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}, "track-order")
    check("a pickup order's creating answer carries its tracking link", status == 201 and str(order.get("trackingUrl", "")).startswith("/track/"),
          f"{status} {str(order)[:200]}")
    return order["id"], order["pickupCode"], order["trackingUrl"]


def headers_check(base, path):
    status, headers, _ = api(base, "GET", path)
    csp = headers.get("Content-Security-Policy", "")
    check("/track/{token} answers 200 with a strict CSP and no referrer",
          status == 200 and "default-src 'none'" in csp and "script-src 'self'" in csp and headers.get("Referrer-Policy") == "no-referrer",
          f"{status} {csp}")


def live_update(driver, base, key, order_id, path):
    driver.get(base + path)
    check("the page shows the order received", wait_text(driver, "headline", "Order received", 10) is not None, text(driver, "headline"))
    check("it names the store and the promise", "Paris Rivoli" in text(driver, "pickup-store") and "Promised ready by" in text(driver, "pickup-promise"),
          f"{text(driver, 'pickup-store')} / {text(driver, 'pickup-promise')}")
    check("its stream is connected", wait_text(driver, "live", "Updates live", 10) is not None, text(driver, "live"))
    shoot(driver, "received-phone")
    driver.execute_script("window.__notReloaded = true;")
    status, _, _ = api(base, "POST", f"/v1/orders/{order_id}/ready", key, {})
    check("the store marks the order ready", status == 200, str(status))
    seconds = wait_text(driver, "headline", "Ready for pickup", LIVE_SECONDS)
    check(f"the page says ready within {LIVE_SECONDS} s of the store's tap, without a reload",
          seconds is not None and driver.execute_script("return window.__notReloaded === true;"),
          f"{seconds:.2f} s" if seconds is not None else f"still '{text(driver, 'headline')}'")
    summary = text(driver, "summary")
    check("it says where to go and until when", "Paris Rivoli" in summary and "before" in summary, summary)
    href = driver.find_element(By.ID, "pickup-map").get_attribute("href")
    check("the store's position is a geo: link", href == "geo:48.8606,2.3376", href)
    shoot(driver, "ready-phone")


def languages(driver):
    driver.find_element(By.ID, "lang-fr").click()
    check("FR shows the page in French", wait_text(driver, "headline", "Prête à retirer", 5) is not None
          and driver.execute_script("return document.documentElement.lang") == "fr", text(driver, "headline"))
    shoot(driver, "ready-phone-fr")
    driver.find_element(By.ID, "lang-en").click()
    check("EN switches back", wait_text(driver, "headline", "Ready for pickup", 5) is not None, text(driver, "headline"))


def collected(driver, base, key, order_id, code):
    status, _, _ = api(base, "POST", f"/v1/orders/{order_id}/collect", key, {"pickupCode": code})
    check("the customer collects", status == 200, str(status))
    check("the page follows to collected", wait_text(driver, "headline", "Collected", LIVE_SECONDS + 3) is not None, text(driver, "headline"))
    steps = [li.text.split("\n")[0] for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li")]
    check("its timeline has the three steps, in order", steps == ["Order placed", "Ready for pickup", "Collected"], str(steps))


def unknown_and_revoked(driver, base, key, order_id, path):
    driver.get(base + "/track/" + "x" * 43)
    check("an unknown link's page says it opens no order", wait_text(driver, "headline", "This link opens no order", 10) is not None, text(driver, "headline"))
    status, _, answer = api(base, "POST", f"/v1/orders/{order_id}/tracking/revoke", key, {})
    check("revocation gives a new link", status == 200 and answer.get("trackingUrl") not in (None, path), f"{status} {answer}")
    driver.get(base + path)
    check("the revoked link's page says it opens no order", wait_text(driver, "headline", "This link opens no order", 10) is not None, text(driver, "headline"))


def hygiene(driver):
    console = driver.get_log("browser")
    requests = []
    for entry in driver.get_log("performance"):
        try:
            message = json.loads(entry["message"])["message"]
        except (KeyError, ValueError):
            continue
        if message.get("method") == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    errors = [e["message"] for e in console if e.get("level") == "SEVERE" and "404" not in e["message"]]
    check("no console error (but the 404s asked for)", not errors, "; ".join(errors[:3]))
    outside = [url for url in requests if not url.startswith("http://127.0.0.1:") and not url.startswith("data:")]
    check("every request went to 127.0.0.1", not outside and requests, f"{len(requests)} requests; outside: {outside[:3]}")


def main():
    if not os.access(OMS, os.X_OK):
        sys.exit(f"track-page: {OMS} is missing; build it first")
    work = tempfile.mkdtemp(prefix="omnistock-track.")
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    process, base = start_oms(data, os.path.join(work, "oms.log"))
    driver = None
    try:
        if base is None:
            check("oms serve starts", False, f"see {work}/oms.log")
            return finish(check, work, data)
        key = create_key(data, "admin", "track-admin")
        order_id, code, path = setup(base, key)
        headers_check(base, path)
        driver = browser(work)
        live_update(driver, base, key, order_id, path)
        languages(driver)
        collected(driver, base, key, order_id, code)
        unknown_and_revoked(driver, base, key, order_id, path)
        hygiene(driver)
    finally:
        if driver:
            try:
                driver.quit()
            except WebDriverException:
                pass
        stop_oms(process)
    return finish(check, work, data)


if __name__ == "__main__":
    sys.exit(main())
