// The scan page: a USB scanner types the code and Enter into the focused field (a keyboard works the same); where
// the browser offers BarcodeDetector, the phone's camera reads QR codes too. Each scan goes to /api/scans?wait=true
// and its outcome (the event it led to, or why it was rejected) is shown at once.
"use strict";
(function () {
  const field = document.getElementById("scan-code");
  const log = document.getElementById("scan-log");
  const action = document.getElementById("scan-action");
  const counterparty = document.getElementById("scan-counterparty");
  const place = document.getElementById("scan-location");
  const cameraButton = document.getElementById("scan-camera");
  const video = document.getElementById("scan-video");
  if (!field) return;

  function note(code, text, bad) {
    const item = document.createElement("li");
    item.textContent = code + " — " + text;
    item.className = bad ? "bad" : "good";
    item.dataset.code = code;
    log.prepend(item);
    return item;
  }

  async function submit(code) {
    code = code.trim().toUpperCase();
    if (!code) return;
    const scan = { client_scan_id: crypto.randomUUID(), qr_code: code, action: action.value,
      scanned_at: new Date().toISOString() };
    if (counterparty.value.trim()) scan.counterparty = counterparty.value.trim();
    if (place.value.trim()) scan.location = place.value.trim();
    const item = note(code, "sent …", false);
    const answer = await window.opsledger.call("POST", "/api/scans?wait=true", { scans: [scan] });
    const outcome = answer.data?.outcomes?.[0];
    if (answer.ok && outcome) {
      const rejected = outcome.outcome === "ScanRejected";
      item.textContent = code + " — " + (outcome.outcome || "accepted") + (outcome.reason ? ": " + outcome.reason : "");
      item.className = rejected ? "bad" : "good";
      item.dataset.outcome = outcome.outcome || "";
    } else {
      item.textContent = code + " — " + answer.status + ": " + (answer.data?.detail || "refused");
      item.className = "bad";
      item.dataset.outcome = "error";
    }
  }

  field.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const code = field.value;
    field.value = "";
    submit(code);
  });
  document.getElementById("scan-form").addEventListener("submit", (event) => event.preventDefault());

  if ("BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia) {
    cameraButton.hidden = false;
    let running = false;
    let last = "";
    cameraButton.addEventListener("click", async () => {
      if (running) return;
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      running = true;
      const look = async () => {  // one look per frame while the camera is open; stops with the page
        if (!running) return;
        try {
          for (const found of await detector.detect(video)) {
            if (found.rawValue && found.rawValue !== last) { last = found.rawValue; submit(found.rawValue); }
          }
        } catch (error) { /* a frame that could not be read */ }
        requestAnimationFrame(look);
      };
      requestAnimationFrame(look);
    });
  }
})();
