// The console's only behaviour: act through the API (JSON, the session cookie and the CSRF header), and keep each
// live region fresh from /ws (one socket per page; a region is re-rendered by the server when an event of one of its
// topics arrives). No polling loop: the socket pushes, and a lost socket reconnects and resumes where it stopped.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const toast = document.getElementById("toast");

  function say(text, bad) {
    if (!toast) return;
    toast.textContent = text;
    toast.classList.toggle("bad", !!bad);
  }

  async function refreshSession() {
    const answer = await fetch("/session/refresh", { method: "POST", headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin" });
    return answer.ok;
  }

  async function call(method, url, body, isForm) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
    const send = () => fetch(url, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body) });
    let answer = await send();
    if (answer.status === 401 && await refreshSession()) answer = await send();
    if (answer.status === 401) window.location.assign("/login?next=" + encodeURIComponent(location.pathname));
    let data = null;
    const type = answer.headers.get("content-type") || "";
    if (type.includes("json")) data = await answer.json();
    return { ok: answer.ok, status: answer.status, data };
  }
  window.opsledger = { call };

  function localIso(value) {  // <input type=datetime-local> means local time: send it with its offset
    const at = new Date(value);
    return isNaN(at) ? value : at.toISOString();
  }

  function convert(input) {
    const value = input.value.trim();
    switch (input.dataset.type) {
      case "number": return value === "" ? undefined : Number(value);
      case "int": return value === "" ? undefined : parseInt(value, 10);
      case "bool": return input.type === "checkbox" ? input.checked : value === "true";
      case "datetime": return value === "" ? undefined : localIso(value);
      case "list": return value === "" ? undefined : value.split(/[\s,]+/).filter(Boolean);
      case "lines": return value === "" ? undefined : value.split(/\n+/).map((s) => s.trim()).filter(Boolean);
      default: return value === "" ? undefined : value;
    }
  }

  function put(target, path, value) {  // "recurrence.weekdays[]" and "matchers.0.label" build nested JSON
    const parts = path.split(".");
    let here = target;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const many = part.endsWith("[]");
      const key = many ? part.slice(0, -2) : part;
      if (last) {
        if (many) (here[key] = here[key] || []).push(value);
        else here[key] = value;
      } else {
        if (here[key] === undefined) here[key] = /^\d+$/.test(parts[i + 1]) ? [] : {};
        here = here[key];
      }
    });
  }

  function prune(value) {  // drop empty objects (an optional group left blank, e.g. no recurrence)
    if (Array.isArray(value)) return value.map(prune).filter((v) => v !== undefined);
    if (value && typeof value === "object") {
      const kept = {};
      for (const [k, v] of Object.entries(value)) { const p = prune(v); if (p !== undefined) kept[k] = p; }
      return Object.keys(kept).length ? kept : undefined;
    }
    return value;
  }

  async function upload(input) {  // each chosen file to /api/files first; the form then sends their ids
    const ids = [];
    for (const file of input.files) {
      const form = new FormData();
      form.append("file", file);
      const answer = await call("POST", input.dataset.upload, form, true);
      if (!answer.ok) throw new Error(answer.data?.detail || "upload refused (" + answer.status + ")");
      ids.push(answer.data.location.split("/").pop());
    }
    return ids;
  }

  async function formBody(form) {
    const body = {};
    for (const input of form.querySelectorAll("[name]")) {
      if (input.disabled || input.name === "") continue;
      const optional = input.closest("fieldset[data-optional]");  // a group sent only when its switch is set
      if (optional && !optional.querySelector("[data-switch]")?.value) continue;
      if (input.type === "file") {
        if (input.files.length) put(body, input.name, await upload(input));
        continue;
      }
      if ((input.type === "checkbox" && input.dataset.type !== "bool") || input.type === "radio") {
        if (!input.checked) continue;
      }
      const value = convert(input);
      if (value !== undefined) put(body, input.name, value);
    }
    return prune(body) || {};
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, (_, key) => {
      const value = data?.[key] ?? "";
      return encodeURIComponent(Array.isArray(value) ? value.join(",") : value);
    });
  }

  function describe(answer) {
    if (answer.ok) return answer.data?.outcome || answer.data?.status || "done";
    const detail = answer.data?.detail || "refused";
    return answer.status + ": " + detail;
  }

  async function act(element, body) {
    const data = element.dataset;
    if (data.confirm && !window.confirm(data.confirm)) return;
    const outcome = element.querySelector("[data-outcome]") || element.parentElement.querySelector("[data-outcome]");
    element.setAttribute("aria-busy", "true");
    try {
      const answer = await call(data.method || "POST", data.api, body);
      const text = describe(answer);
      if (outcome) { outcome.textContent = text; outcome.classList.toggle("bad", !answer.ok); }
      say(text, !answer.ok);
      const shown = element.querySelector("[data-shown]");  // e.g. a new API key: shown this once
      if (answer.ok && data.show && shown) {
        shown.textContent = answer.data[data.show];
        shown.hidden = false;
      }
      element.dispatchEvent(new CustomEvent("console:done", { bubbles: true, detail: answer }));
      if (answer.ok && data.then === "reload") window.location.reload();
      else if (answer.ok && data.then === "reset" && element.reset) element.reset();
      else if (answer.ok && data.then) window.location.assign(fill(data.then, answer.data));
    } catch (error) {
      if (outcome) { outcome.textContent = String(error.message || error); outcome.classList.add("bad"); }
      say(String(error.message || error), true);
    } finally {
      element.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    let body;
    try {
      body = form.dataset.body === "json" ? JSON.parse(form.querySelector("[name=body]").value) : await formBody(form);
    } catch (error) { say(String(error.message || error), true); return; }
    await act(form, body);
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-api]");
    if (button && !button.form) act(button, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
    const toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      const target = document.getElementById(toggle.dataset.toggle);
      const open = target.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    }
  });

  function localTimes(root) {
    for (const at of root.querySelectorAll("time[datetime]")) {
      const when = new Date(at.getAttribute("datetime"));
      if (!isNaN(when)) at.textContent = when.toLocaleString();
    }
  }
  localTimes(document);

  // ---- live regions ----
  const regions = Array.from(document.querySelectorAll("[data-live]")).filter((r) => r.id && r.dataset.live);
  const topics = [...new Set(regions.flatMap((r) => r.dataset.live.split(/\s+/)))].filter(Boolean);
  const pending = new Map();  // region id -> timer
  const tokens = new Map();  // region id -> the consistency token of the last event that concerns it
  const busy = new Set();
  window.opsledgerLive = { updates: 0, connected: false };

  async function rerender(id) {
    if (busy.has(id)) { pending.set(id, "again"); return; }
    busy.add(id);
    try {
      const url = new URL(location.href);
      url.searchParams.set("fragment", id);
      if (tokens.has(id)) url.searchParams.set("after", tokens.get(id));
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      const region = document.getElementById(id);
      if (answer.ok && region && answer.headers.get("content-type")?.startsWith("text/html")) {
        const holder = document.createElement("template");
        holder.innerHTML = await answer.text();
        const fresh = holder.content.getElementById(id);
        if (fresh && !region.contains(document.activeElement)) {
          region.replaceWith(fresh);
          localTimes(fresh);
          window.opsledgerLive.updates += 1;
          performance.mark("live-update-" + window.opsledgerLive.updates);
          document.dispatchEvent(new CustomEvent("console:updated", { detail: { id } }));
        }
      }
    } finally {
      busy.delete(id);
      if (pending.get(id) === "again") { pending.delete(id); rerender(id); }
    }
  }

  function schedule(topic, token) {
    for (const region of regions) {
      const id = region.id;
      if (!document.getElementById(id)?.dataset.live.split(/\s+/).includes(topic)) continue;
      if (token) tokens.set(id, token);
      if (pending.has(id)) continue;
      pending.set(id, setTimeout(() => { pending.delete(id); rerender(id); }, 60));  // coalesce a burst
    }
  }

  let lastSeq = null;
  let delay = 500;
  function connect() {
    if (!topics.length) return;
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "subscribe", topics, after: lastSeq }));
    });
    socket.addEventListener("message", (message) => {
      const body = JSON.parse(message.data);
      if (body.type === "subscribed") {
        window.opsledgerLive.connected = true;
        document.body.dataset.live = "connected";
        delay = 500;
      } else if (body.type === "event") {
        lastSeq = body.data.seq;
        schedule(body.data.topic, body.data.consistency_token);
        document.dispatchEvent(new CustomEvent("console:event", { detail: body.data }));
      }
    });
    socket.addEventListener("close", async (event) => {
      window.opsledgerLive.connected = false;
      document.body.dataset.live = "reconnecting";
      if (event.code === 4401 && !(await refreshSession())) { window.location.assign("/login"); return; }
      setTimeout(connect, delay);  // a lost socket comes back and resumes after the last event seen
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
})();
