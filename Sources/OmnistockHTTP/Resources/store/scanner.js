// Scanning a pickup code with the camera, where the browser has a BarcodeDetector (Chrome on
// Android and ChromeOS tablets). Elsewhere the Scan button is not offered and the code is
// typed. The camera is released as soon as a code is read or scanning stops.

import { el } from '/store/dom.js';

const FORMATS = ['qr_code', 'code_128', 'code_39', 'data_matrix'];
const SCAN_INTERVAL_MS = 250;
const SCAN_TIMEOUT_MS = 60000;
const CODE = /^[A-Z2-9]{8}$/;

export function scanSupported() {
  return 'BarcodeDetector' in window && Boolean(navigator.mediaDevices?.getUserMedia);
}

// Starts the camera in `container`; resolves to the code read, or null when stopped or after
// a minute without a code. stop() ends it early.
export function startScan(container) {
  let stopped = false;
  let finish = () => {};
  const video = el('video', { class: 'scanner-video', playsinline: true, 'aria-hidden': 'true' });
  // The property, not the attribute: only a muted video may start playing without a gesture.
  video.muted = true;
  container.replaceChildren(video);

  const done = (async () => {
    const formats = await window.BarcodeDetector.getSupportedFormats().catch(() => []);
    const detector = new window.BarcodeDetector({ formats: FORMATS.filter((format) => formats.includes(format)) });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    try {
      video.srcObject = stream;
      await video.play();
      return await detect(detector, video, () => stopped, (resolve) => { finish = resolve; });
    } finally {
      for (const track of stream.getTracks()) track.stop();
      container.replaceChildren();
    }
  })();

  return {
    done,
    stop() {
      stopped = true;
      finish(null);
    },
  };
}

function detect(detector, video, isStopped, onFinish) {
  return new Promise((resolve) => {
    const began = Date.now();
    onFinish(resolve);
    const tick = async () => {
      if (isStopped()) return resolve(null);
      if (Date.now() - began > SCAN_TIMEOUT_MS) return resolve(null);
      const codes = await detector.detect(video).catch(() => []);
      const match = codes.map((code) => code.rawValue.trim().toUpperCase()).find((value) => CODE.test(value));
      if (match) return resolve(match);
      setTimeout(tick, SCAN_INTERVAL_MS);
      return undefined;
    };
    tick();
  });
}
