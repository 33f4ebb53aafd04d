// The Convertix page: a thin client of the HTTP API (docs/SPEC.md).
// No framework, no build step: the gateway serves this file as it is.
"use strict";
(() => {
  const API = "/api/v1";
  const STORE_KEY = "convertix.session";
  // The final statuses and each format's file endings and media types are the server's
  // tables (GET /formats), filled in by loadFormats before anything else runs.
  let FINAL = new Set();
  let TASK_FINAL = new Set();
  let FORMAT_FILES = {};
  // Where a task is, as a share of the bar: the converter's stages in order.
  const STAGE_PERCENT = { decode: 25, transform: 50, encode: 75, store: 90 };
  const STAGE_WORDS = { decode: "reading", transform: "resizing", encode: "encoding", store: "saving" };
  const PRESETS = {
    "Web thumbnail": { format: "webp", width: 320, height: 320, fit: "cover", quality: 75 },
    "WebP 80": { format: "webp", quality: 80 },
    "Lossless PNG": { format: "png", lossless: true },
    "JPEG for e-mail": { format: "jpeg", width: 1600, quality: 82, progressive: true },
  };
  // Option -> how it is read from its field.
  const NUMBER_FIELDS = ["width", "height", "quality", "rotate", "blur", "sharpen"];
  const BOOLEAN_FIELDS = ["enlarge", "flip", "flop", "grayscale", "auto_orient", "strip_metadata",
    "progressive", "lossless", "animated"];
  const CROP_FIELDS = ["x", "y", "width", "height"];
  const SENTENCES = JSON.parse(document.getElementById("sentences").textContent);

  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---------- session: tokens in localStorage, refreshed before they expire ----------
  let session = readSession();
  let refreshTimer = null;
  let refreshing = null;

  function readSession() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY)); } catch (err) { return null; }
  }

  function saveSession(value) {
    session = value;
    if (value) localStorage.setItem(STORE_KEY, JSON.stringify(value));
    else localStorage.removeItem(STORE_KEY);
    scheduleRefresh();
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (!session) return;
    const left = session.expiresAt - Date.now();
    // a minute before expiry, or at 80 % of a lifetime shorter than five minutes
    const delay = Math.max(0, Math.min(left - 60000, left * 0.8));
    refreshTimer = setTimeout(refresh, delay);
  }

  function refresh() {
    if (!session) return Promise.resolve(false);
    if (!refreshing) {
      refreshing = (async () => {
        try {
          const answer = await fetch(API + "/auth/refresh", {
            method: "POST", headers: { Authorization: "Bearer " + session.refresh } });
          if (!answer.ok) {
            signedOut(human(await errorOf(answer)));
            return false;
          }
          const body = await answer.json();
          saveSession({ ...session, access: body.access_token,
            expiresAt: Date.now() + body.expires_in * 1000 });
          return true;
        } catch (err) { // offline for a moment: try again soon
          clearTimeout(refreshTimer);
          refreshTimer = setTimeout(refresh, 10000);
          return false;
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  async function fresh() {
    if (session && session.expiresAt - Date.now() < 10000) await refresh();
  }

  // A request with the access token; on a 401 the token is refreshed and the request sent again once.
  async function api(path, options = {}) {
    await fresh();
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(options.headers || {});
      if (session) headers.set("Authorization", "Bearer " + session.access);
      const answer = await fetch(path.startsWith(API) ? path : API + path, { ...options, headers });
      if (answer.status !== 401 || attempt > 0 || !session || !(await refresh())) return answer;
    }
  }

  async function errorOf(answer) {
    try { return (await answer.json()).error || {}; } catch (err) {
      return { code: answer.status >= 500 ? "BACKEND_UNAVAILABLE" : "BAD_REQUEST", message: answer.statusText };
    }
  }

  function human(error) {
    return SENTENCES[error.code] || error.message || "Something went wrong.";
  }

  // ---------- signing in and out ----------
  function credentials() {
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) {
      $("auth-error").textContent = "Enter a username and a password.";
      return null;
    }
    return { username, password };
  }

  async function authCall(path, body) {
    return fetch(API + path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
  }

  async function signUp() {
    const creds = credentials();
    if (!creds) return;
    $("auth-error").textContent = "";
    const answer = await authCall("/auth/register", creds);
    if (answer.status !== 201) {
      $("auth-error").textContent = human(await errorOf(answer));
      return;
    }
    await signIn();
  }

  async function signIn(event) {
    if (event) event.preventDefault();
    const creds = credentials();
    if (!creds) return;
    $("auth-error").textContent = "";
    const answer = await authCall("/auth/login", creds);
    if (!answer.ok) {
      $("auth-error").textContent = human(await errorOf(answer));
      return;
    }
    const body = await answer.json();
    saveSession({ username: creds.username, access: body.access_token, refresh: body.refresh_token,
      expiresAt: Date.now() + body.expires_in * 1000 });
    $("password").value = "";
    showScreen();
    $("main").focus();
  }

  async function signOut() {
    stopFollowing();
    if (session) {
      try { // revokes the session: its refresh token dies with the access token
        await fetch(API + "/auth/logout", { method: "POST",
          headers: { Authorization: "Bearer " + session.access } });
      } catch (err) { /* signed out here anyway */ }
    }
    signedOut("");
  }

  function signedOut(message) {
    saveSession(null);
    showScreen();
    $("auth-error").textContent = message || "";
  }

  function showScreen() {
    const inside = Boolean(session);
    $("auth").hidden = inside;
    $("app").hidden = !inside;
    $("who").hidden = !inside;
    $("who-name").textContent = inside ? session.username : "";
    if (inside) loadHistory();
  }

  // ---------- formats and options ----------
  let inputFormats = new Set();

  async function loadFormats() {
    const answer = await fetch(API + "/formats");
    const formats = await answer.json();
    inputFormats = new Set(formats.input);
    FINAL = new Set(formats.final_statuses.job);
    TASK_FINAL = new Set(formats.final_statuses.task);
    FORMAT_FILES = Object.fromEntries(formats.input.map((name) =>
      [name, [formats.extensions[name] || [], formats.media_types[name] || []]]));
    const select = $("f-format");
    select.replaceChildren(...formats.output.map((name) =>
      el("option", { value: name, textContent: name.toUpperCase() })));
    select.value = formats.output.includes("webp") ? "webp" : formats.output[0];
    for (const [name, preset] of Object.entries(PRESETS)) {
      if (formats.output.includes(preset.format)) $("preset").append(el("option", { value: name, textContent: name }));
    }
    $("input-formats").textContent = "Readable: " + formats.input.join(", ") + ".";
  }

  function applyPreset() {
    const preset = PRESETS[$("preset").value];
    if (!preset) return;
    $("f-format").value = preset.format;
    for (const name of NUMBER_FIELDS) {
      const input = $("f-" + name);
      input.value = name in preset ? preset[name] : input.defaultValue;
    }
    for (const name of BOOLEAN_FIELDS) {
      const box = $("f-" + name);
      box.checked = name in preset ? preset[name] : box.defaultChecked;
    }
    $("f-fit").value = preset.fit || "inside";
  }

  function readOptions() {
    const options = { format: $("f-format").value, fit: $("f-fit").value,
      background: $("f-background").value };
    for (const name of NUMBER_FIELDS) {
      const raw = $("f-" + name).value.trim();
      if (raw !== "") options[name] = Number(raw);
    }
    for (const name of BOOLEAN_FIELDS) options[name] = $("f-" + name).checked;
    const crop = CROP_FIELDS.map((name) => $("f-crop-" + name).value.trim());
    if (crop.some((value) => value !== "")) {
      options.crop = Object.fromEntries(CROP_FIELDS.map((name, i) => [name, crop[i] === "" ? null : Number(crop[i])]));
    }
    return options;
  }

  function clearErrors() {
    for (const node of document.querySelectorAll("#convert-form .error")) node.textContent = "";
    for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  // A 422's details.field -> the message next to that field, and the focus on it.
  function showFieldError(error) {
    const field = (error.details || {}).field;
    const slot = field && $("err-" + field);
    if (!slot) {
      $("form-error").textContent = human(error) + (error.message ? " (" + error.message + ")" : "");
      return;
    }
    slot.textContent = error.message || human(error);
    const input = $("f-" + field) || $("f-crop-x") || $("files");
    if (field === "file") $("files").setAttribute("aria-invalid", "true");
    else if (input) {
      input.setAttribute("aria-invalid", "true");
      if (input.closest("details")) input.closest("details").open = true;
      input.focus();
    }
  }

  // ---------- picked files ----------
  let picked = [];

  function formatOf(file) {
    const ending = (file.name.split(".").pop() || "").toLowerCase();
    if (inputFormats.has(ending)) return ending; // the name is the format (png, qoi, pcx ...)
    for (const [format, [endings, types]] of Object.entries(FORMAT_FILES)) {
      if (endings.includes(ending) || types.includes(file.type)) return format;
    }
    return null;
  }

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " kB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function addFiles(files) {
    const refused = [];
    for (const file of files) {
      if (!inputFormats.has(formatOf(file))) refused.push(file.name);
      else picked.push({ file, url: URL.createObjectURL(file) });
    }
    $("err-file").textContent = refused.length
      ? "Not added, not an image format Convertix reads: " + refused.join(", ") + "." : "";
    renderPicked();
  }

  function renderPicked() {
    $("picked").replaceChildren(...picked.map((item, index) => {
      const thumb = el("img", { src: item.url, alt: "", width: 64, height: 64 });
      thumb.addEventListener("error", () => thumb.replaceWith(el("span", { className: "thumb none", textContent: "no preview" })));
      const remove = el("button", { type: "button", className: "secondary small", textContent: "Remove" });
      remove.setAttribute("aria-label", "Remove " + item.file.name);
      remove.addEventListener("click", () => {
        URL.revokeObjectURL(item.url);
        picked.splice(index, 1);
        renderPicked();
      });
      return el("li", {}, thumb, el("span", { className: "name", textContent: item.file.name }),
        el("span", { className: "size", textContent: sizeText(item.file.size) }), remove);
    }));
  }

  // ---------- converting ----------
  function upload(form) {
    // XMLHttpRequest, not fetch: only it reports upload progress.
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", API + "/jobs");
      request.setRequestHeader("Authorization", "Bearer " + session.access);
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          $("upload-status").textContent = "Uploading… " + Math.round(100 * event.loaded / event.total) + " %";
        }
      });
      request.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(request.responseText); } catch (err) { /* not JSON */ }
        resolve({ status: request.status, body });
      });
      request.addEventListener("error", () => resolve({ status: 0, body: null }));
      request.send(form);
    });
  }

  async function convert(event) {
    event.preventDefault();
    clearErrors();
    if (!picked.length) {
      $("err-file").textContent = "Pick at least one image first.";
      $("files").focus();
      return;
    }
    const form = new FormData();
    // options first: the server makes the job as the first file arrives,
    // and converts it while the others are still being sent
    form.append("options", JSON.stringify(readOptions()));
    for (const item of picked) form.append("file", item.file, item.file.name);
    $("convert").disabled = true;
    try {
      await fresh();
      let answer = await upload(form);
      if (answer.status === 401 && (await refresh())) answer = await upload(form);
      $("upload-status").textContent = "";
      if (answer.status === 202) {
        picked.forEach((item) => URL.revokeObjectURL(item.url));
        picked = [];
        renderPicked();
        startJob(answer.body);
        loadHistory();
      } else if (answer.status === 0) {
        $("form-error").textContent = "The upload did not reach the server: check the connection and try again.";
      } else {
        showFieldError((answer.body && answer.body.error) || { code: "INTERNAL_ERROR" });
      }
    } finally {
      $("convert").disabled = false;
    }
  }

  // ---------- the current job, live ----------
  let following = null;
  let currentJob = null;
  const finishedJobs = new Set();

  function stopFollowing() {
    if (following) following.abort();
    following = null;
  }

  function startJob(doc) {
    stopFollowing();
    currentJob = doc.id;
    $("tasks").replaceChildren();
    $("current").hidden = false;
    renderJob(doc);
    if (!FINAL.has(doc.status)) follow(doc.id);
  }

  // Server-Sent Events read from a fetch() body: EventSource cannot send the
  // Authorization header.
  async function* serverEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { event: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) yield { ...event, data: event.data.join("\n") };
          event = { event: "message", data: [], id: null };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (name === "data") event.data.push(text);
          else if (name === "event") event.event = text;
          else if (name === "id") event.id = text;
        }
      }
    }
  }

  async function follow(jobId) {
    const control = new AbortController();
    following = control;
    let lastId = null;
    while (!control.signal.aborted) {
      let answer;
      try {
        await fresh();
        const headers = { Authorization: "Bearer " + session.access, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        answer = await fetch(`${API}/jobs/${jobId}/events`, { headers, signal: control.signal });
      } catch (err) {
        if (control.signal.aborted) return;
        await sleep(1000);
        continue;
      }
      if (answer.status === 401 && (await refresh())) continue;
      if (!answer.ok || !answer.body) return poll(jobId, control); // no live events here: poll
      let ended = false;
      try {
        for await (const event of serverEvents(answer.body)) {
          if (event.id) lastId = event.id;
          if (event.event !== "job") continue;
          const doc = JSON.parse(event.data);
          renderJob(doc);
          ended = FINAL.has(doc.status);
        }
      } catch (err) {
        if (control.signal.aborted) return;
      }
      if (ended) return;
      await sleep(500); // the stream broke off early: resume from Last-Event-ID
    }
  }

  async function poll(jobId, control) {
    while (!control.signal.aborted) {
      const answer = await api(`/jobs/${jobId}`);
      if (control.signal.aborted) return;
      if (!answer.ok) {
        $("job-status").textContent = human(await errorOf(answer));
        return;
      }
      const doc = await answer.json();
      renderJob(doc);
      if (FINAL.has(doc.status)) return;
      await sleep(1000);
    }
  }

  function taskPercent(task) {
    if (TASK_FINAL.has(task.status)) return 100;
    if (task.status === "processing") return STAGE_PERCENT[task.stage] || 10;
    return 0;
  }

  function taskWords(task, doc) {
    if (task.status === "queued") {
      return doc.queue_position ? `Waiting in the queue (position ${doc.queue_position})` : "Waiting in the queue";
    }
    if (task.status === "processing") return "Converting" + (task.stage ? ": " + (STAGE_WORDS[task.stage] || task.stage) : "");
    if (task.status === "succeeded") {
      const out = task.output || {};
      return `Done: ${(out.format || "").toUpperCase()}, ${out.width} × ${out.height} px, ${sizeText(out.bytes || 0)}`;
    }
    if (task.status === "failed") return "Failed: " + human(task.error || {});
    return "Cancelled";
  }

  function taskRow(task) {
    const bar = el("div", { className: "bar" }, el("div", { className: "fill" }));
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-label", task.filename);
    const row = el("li", { className: "task" },
      el("span", { className: "thumb none", textContent: "" }),
      el("div", { className: "body" },
        el("span", { className: "name", textContent: task.filename }), bar,
        el("p", { className: "words" }), el("p", { className: "detail" }),
        el("div", { className: "links" })));
    row.dataset.index = task.index;
    return row;
  }

  function renderJob(doc) {
    if (doc.id !== currentJob) return;
    if (FINAL.has(doc.status) && !finishedJobs.has(doc.id)) {
      finishedJobs.add(doc.id);
      loadHistory(); // its row shows the final status too
    }
    const done = doc.tasks.filter((task) => TASK_FINAL.has(task.status)).length;
    $("job-status").textContent = `${doc.tasks.length} file${doc.tasks.length === 1 ? "" : "s"}: ` +
      `${done} finished, job ${doc.status}.`;
    const list = $("tasks");
    for (const task of doc.tasks) {
      let row = list.querySelector(`li[data-index="${task.index}"]`);
      if (!row) list.append(row = taskRow(task));
      const percent = taskPercent(task);
      const bar = row.querySelector("[role=progressbar]");
      bar.setAttribute("aria-valuenow", String(percent));
      bar.setAttribute("aria-valuetext", taskWords(task, doc));
      bar.firstChild.style.width = percent + "%";
      row.querySelector(".words").textContent = taskWords(task, doc);
      row.className = "task " + task.status;
      row.querySelector(".detail").textContent = task.status === "failed" && task.error ? task.error.message : "";
      if (task.status === "succeeded" && !row.dataset.shown) {
        row.dataset.shown = "1";
        showResult(row, doc, task);
      }
    }
    const any = doc.tasks.some((task) => task.status === "succeeded");
    $("download-all").disabled = !(FINAL.has(doc.status) && any);
  }

  async function showResult(row, doc, task) {
    const url = task.output.url;
    const name = task.filename.replace(/\.[^.]*$/, "") + "." + task.output.format;
    const link = el("button", { type: "button", className: "secondary small", textContent: "Download" });
    link.setAttribute("aria-label", "Download " + name);
    link.addEventListener("click", () => download(url, name));
    row.querySelector(".links").append(link);
    const answer = await api(url);
    if (!answer.ok) return;
    const thumb = el("img", { src: URL.createObjectURL(await answer.blob()), alt: "Result: " + name, width: 64, height: 64 });
    thumb.addEventListener("error", () => thumb.replaceWith(el("span", { className: "thumb none", textContent: "no preview" })));
    row.querySelector(".thumb").replaceWith(thumb);
  }

  function fileName(answer, fallback) {
    const header = answer.headers.get("Content-Disposition") || "";
    const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (star) return decodeURIComponent(star[1]);
    const plain = /filename="?([^";]+)"?/i.exec(header);
    return plain ? plain[1] : fallback;
  }

  async function download(url, fallback) {
    const answer = await api(url);
    if (!answer.ok) {
      $("job-status").textContent = human(await errorOf(answer));
      return;
    }
    const href = URL.createObjectURL(await answer.blob());
    const anchor = el("a", { href, download: fileName(answer, fallback) });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
  }

  // ---------- history ----------
  let pages = [null]; // the cursor of each page seen; the last is the one shown
  let nextCursor = null;

  async function loadHistory() {
    const cursor = pages[pages.length - 1];
    const answer = await api("/jobs?limit=10" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    if (!answer.ok) {
      $("history-status").textContent = human(await errorOf(answer));
      return;
    }
    const page = await answer.json();
    nextCursor = page.next_cursor;
    $("older").disabled = !nextCursor;
    $("newer").disabled = pages.length < 2;
    $("history-status").textContent = page.items.length ? "" : "No jobs yet.";
    $("jobs").replaceChildren(...page.items.map(historyRow));
  }

  function historyRow(doc) {
    const when = new Date(doc.created_at).toLocaleString();
    const names = doc.tasks.map((task) => task.filename).join(", ");
    const label = `job of ${when}`;
    const actions = el("div", { className: "links" });
    const add = (text, aria, handler) => {
      const button = el("button", { type: "button", className: "secondary small", textContent: text });
      button.setAttribute("aria-label", aria);
      button.addEventListener("click", handler);
      actions.append(button);
    };
    add("Show", "Show " + label, () => { startJob(doc); $("current").scrollIntoView(); });
    if (doc.tasks.some((task) => task.status === "succeeded")) {
      add("Download", "Download the results of " + label, () => download(`/jobs/${doc.id}/archive`, "convertix.zip"));
    }
    add("Delete", "Delete " + label, () => removeJob(doc));
    return el("li", { className: "job " + doc.status },
      el("span", { className: "when", textContent: when }),
      el("span", { className: "state", textContent: doc.status }),
      el("span", { className: "name", textContent: `${doc.tasks.length} file${doc.tasks.length === 1 ? "" : "s"}: ${names}` }),
      actions);
  }

  async function removeJob(doc) {
    const answer = await api(`/jobs/${doc.id}`, { method: "DELETE" });
    if (answer.status !== 204) {
      $("history-status").textContent = human(await errorOf(answer));
      return;
    }
    if (currentJob === doc.id) {
      stopFollowing();
      currentJob = null;
      $("current").hidden = true;
    }
    await loadHistory();
    $("history-status").textContent = "Job deleted.";
  }

  // ---------- wiring ----------
  function wire() {
    $("auth-form").addEventListener("submit", signIn);
    $("sign-up").addEventListener("click", signUp);
    $("sign-out").addEventListener("click", signOut);
    $("convert-form").addEventListener("submit", convert);
    $("preset").addEventListener("change", applyPreset);
    $("files").addEventListener("change", (event) => {
      addFiles(event.target.files);
      event.target.value = "";
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      addFiles(event.dataTransfer.files);
    });
    $("download-all").addEventListener("click", () => download(`/jobs/${currentJob}/archive`, "convertix.zip"));
    $("older").addEventListener("click", () => { if (nextCursor) { pages.push(nextCursor); loadHistory(); } });
    $("newer").addEventListener("click", () => { if (pages.length > 1) { pages.pop(); loadHistory(); } });
  }

  async function start() {
    wire();
    await loadFormats();
    if (session && session.expiresAt <= Date.now() + 10000) await refresh();
    scheduleRefresh();
    showScreen();
  }

  start();
})();
