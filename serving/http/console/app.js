// The Palimpsest console: plain DOM code over the /v1 API, with the API key from localStorage.
"use strict";

const KEY = "palimpsest.key";
const JOBS = "palimpsest.jobs";

// ---- small helpers ---------------------------------------------------------------------------
const $ = (selector, root = document) => root.querySelector(selector);

/** An element with attributes (on* as listeners) and children (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replace a node's children, leaving out null, undefined and false. */
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const fmtNum = (x, digits = 3) => (typeof x === "number" ? x.toFixed(digits) : x === null ? "n/a" : String(x ?? ""));
const pct = (x) => (typeof x === "number" ? (100 * x).toFixed(1) + " %" : "n/a");

function notice(message, kind = "error") {
  const box = $("#notice");
  box.textContent = message;
  box.className = kind;
  box.hidden = !message;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Call the API with the stored key; JSON in and out; a non-2xx answer throws an ApiError. */
async function api(method, path, body) {
  const response = await fetch(path, {method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function headers(json) {
  const out = {};
  const key = localStorage.getItem(KEY);
  if (key) out.Authorization = `Bearer ${key}`;
  if (json) out["Content-Type"] = "application/json";
  return out;
}

const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  return q.toString();
};

/** Run an action, showing its error in the notice bar; a 401 points at the key field. */
async function guarded(action) {
  try {
    notice("");
    return await action();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      notice("The server wants an API key: type it in the field above and press Save.");
      $("#api-key").focus();
    } else notice(err.message);
    return undefined;
  }
}

function jsonView(value) {
  return el("pre", {class: "json"}, JSON.stringify(value, null, 2));
}

// ---- header: key and server status -----------------------------------------------------------
async function refreshStatus() {
  const status = $("#server-status");
  try {
    const health = await (await fetch("/healthz")).json();
    const state = await api("GET", "/v1/state");
    status.textContent = `${health.model} on ${health.device} · weights ${state.fingerprint.slice(0, 12)} · ${state.applied.length} applied`;
    status.title = `fingerprint ${state.fingerprint} (base ${state.base_fingerprint})`;
  } catch (err) {
    status.textContent = err instanceof ApiError && err.status === 401 ? "API key needed" : "server unreachable";
  }
}

$("#api-key").value = localStorage.getItem(KEY) || "";
$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
  notice("Key saved in this browser.", "info");
  refreshStatus();
  show(currentTab());
});

// ---- tabs ------------------------------------------------------------------------------------
const PAGES = {history: loadHistory, memory: loadMemory, edit: () => {}, skills: loadSkills, chat: () => {}};

function currentTab() {
  const tab = location.hash.slice(1);
  return tab in PAGES ? tab : "history";
}

function show(tab) {
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== `page-${tab}`;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.tab === tab);
  guarded(PAGES[tab]);
}

window.addEventListener("hashchange", () => show(currentTab()));

// ---- history ---------------------------------------------------------------------------------
$("#filter-kind").addEventListener("change", () => guarded(loadHistory));
$("#filter-status").addEventListener("change", () => guarded(loadHistory));
$("#history-refresh").addEventListener("click", () => guarded(loadHistory));

async function loadHistory() {
  const params = query({kind: $("#filter-kind").value, status: $("#filter-status").value, limit: 200});
  const {data} = await api("GET", `/v1/history?${params}`);
  const list = $("#history-list");
  put(list, ...data.map(historyRow));
  if (!data.length) list.append(el("li", {class: "muted"}, "No changes yet. Add a fact on the Memory page."));
}

function guardBadge(guard) {
  if (!guard) return null;
  const drops = Object.values(guard.drops || {}).filter((d) => typeof d === "number");
  const worst = drops.length ? Math.max(...drops) : null;
  const text = `guard ${guard.reverted ? "rejected" : "passed"}${worst === null ? "" : ` (worst drop ${pct(worst)})`}`;
  return el("span", {class: `badge ${guard.reverted ? "bad" : "good"}`}, text);
}

function historyRow(entry) {
  const d = entry.details || {};
  const body = el("div", {class: "entry-body", hidden: true});
  const row = el("li", {class: `entry ${entry.status}`, "data-id": entry.id},
    el("div", {class: "entry-head", onclick: () => toggle(body, entry)},
      el("time", {datetime: entry.created_at}, fmtTime(entry.created_at)),
      el("span", {class: `badge kind-${entry.kind}`}, entry.kind),
      el("span", {class: `badge status-${entry.status}`}, entry.status),
      el("span", {class: "summary"}, entry.summary),
      guardBadge(d.guard),
      d.routing ? el("span", {class: "badge"}, `routed: ${d.routing.route}`) : null),
    body);
  return row;
}

function toggle(body, entry) {
  body.hidden = !body.hidden;
  if (!body.hidden && !body.childElementCount) body.append(...entryDetails(entry));
}

function entryDetails(entry) {
  const d = entry.details || {};
  const parts = [el("p", {class: "muted"}, `id ${entry.id}`)];
  if (d.routing) parts.push(el("p", {}, el("b", {}, "Routing: "), `${d.routing.route}: ${d.routing.reason}`));
  if (d.edit_reverted_by_guard) parts.push(el("p", {}, `The weight edit ${d.edit_reverted_by_guard} was rejected by the guard; the fact went to the memory.`));
  if (d.guard) parts.push(guardTable(d.guard));
  if (d.before && d.after && !Array.isArray(d.before)) parts.push(diffTable("Probabilities", d.before, d.after));
  if (d.superseded?.length) parts.push(el("p", {}, el("b", {}, "Superseded facts: "), d.superseded.join(", ")));
  parts.push(el("details", {}, el("summary", {}, "Details (JSON)"), jsonView(d)));
  if (entry.status === "applied") parts.push(revertControl(entry));
  return parts;
}

function guardTable(guard) {
  const rows = Object.keys(guard.before || {}).map((group) => el("tr", {},
    el("td", {}, group), el("td", {}, fmtNum(guard.before[group])), el("td", {}, fmtNum(guard.after?.[group])),
    el("td", {class: (guard.drops?.[group] ?? 0) > guard.threshold ? "bad" : ""}, pct(guard.drops?.[group])),
    el("td", {}, String(guard.probes?.[group] ?? ""))));
  return el("div", {class: "guard"},
    el("b", {}, `Regression guard: ${guard.reverted ? "rejected" : "passed"}`),
    ` (threshold ${pct(guard.threshold)}, ${fmtNum(guard.seconds, 1)} s)`,
    guard.reason ? el("p", {}, guard.reason) : null,
    el("table", {}, el("tr", {}, ...["probe group", "before", "after", "drop", "probes"].map((h) => el("th", {}, h))), ...rows));
}

/** Two flat objects side by side, changed values marked. */
function diffTable(title, before, after) {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return el("div", {class: "diff"}, el("b", {}, title),
    el("table", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "before"), el("th", {}, "after")),
      ...keys.map((k) => el("tr", {class: before[k] === after[k] ? "" : "changed"},
        el("td", {}, k), el("td", {class: "old"}, fmtNum(before[k])), el("td", {class: "new"}, fmtNum(after[k]))))));
}

function revertControl(entry) {
  const box = el("div", {class: "revert-box"});
  const ask = el("button", {class: "revert", type: "button", onclick: () => {
    put(box,
      el("span", {}, `Revert “${entry.summary}”? Exactly this change is removed; the others stay applied. `),
      el("button", {class: "confirm-revert danger", type: "button", onclick: () => guarded(async () => {
        await api("POST", `/v1/history/${encodeURIComponent(entry.id)}/revert`);
        notice(`Reverted ${entry.id}.`, "info");
        await loadHistory();
        refreshStatus();
      })}, "Yes, revert"),
      el("button", {type: "button", onclick: () => put(box, ask)}, "Cancel"));
  }}, "Revert…");
  box.append(ask);
  return box;
}

// ---- memory ----------------------------------------------------------------------------------
async function loadMemory() {
  const s = await api("GET", "/v1/memory/stats");
  $("#memory-stats").textContent = `${s.passages} passages · ${s.entities} entities · ${s.triples} triples · ` +
    `${s.edges} edges · ${s.facts_current ?? "?"} current facts · ${s.facts_superseded ?? 0} superseded`;
}

$("#add-kind").addEventListener("change", () => {
  for (const part of document.querySelectorAll("[data-add]")) part.hidden = part.dataset.add !== $("#add-kind").value;
});

$("#add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => {
    const kind = $("#add-kind").value;
    const out = $("#add-result");
    let result;
    if (kind === "fact") {
      const fact = {subject: $("#fact-subject").value, relation: $("#fact-relation").value, object: $("#fact-object").value};
      result = await api("POST", "/v1/memory/facts", {facts: [fact], replaces: $("#fact-replaces").checked || null});
    } else if (kind === "document") {
      result = await api("POST", "/v1/memory/documents", {documents: [{text: $("#doc-text").value}]});
    } else {
      result = await api("POST", "/v1/updates", {text: $("#update-text").value});
    }
    const entry = result.entry;
    put(out,
      entry ? el("span", {}, "Recorded ", el("a", {href: "#history"}, entry.id), `: ${entry.summary}`) : null,
      result.route ? el("p", {}, `Routed to ${result.route}: ${result.reason}`) : null,
      entry?.details?.superseded?.length ? el("p", {}, `Supersedes ${entry.details.superseded.join(", ")}`) : null,
      result.job ? el("p", {}, `Skill job ${result.job.id} started (see Skills).`) : null);
    if (result.job) rememberJob(result.job.id);
    await loadMemory();
    refreshStatus();
  });
});

$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(search);
});

async function search() {
  const q = $("#search-q").value;
  const asOf = $("#search-as-of").value ? new Date($("#search-as-of").value).toISOString() : "";
  const [hits, grounding] = await Promise.all([
    api("GET", `/v1/memory/search?${query({q, k: 5, as_of: asOf})}`),
    api("GET", `/v1/memory/grounding?${query({q})}`),
  ]);
  $("#search-out").hidden = false;
  put($("#search-grounding"), ...(grounding.grounded
    ? grounding.citations.map((c) => el("li", {}, el("span", {class: "score"}, fmtNum(c.score)),
      el("span", {class: "badge"}, c.type), " ", c.type === "passage" ? passageLink(c.id, c.text) : c.text))
    : [el("li", {class: "muted"}, "Nothing passes the relevance gate: chat would answer this without the memory.")]));
  put($("#search-facts"), ...hits.facts.map((f) => el("li", {}, el("span", {class: "score"}, fmtNum(f.score)), factLine(f))));
  put($("#search-passages"), ...hits.results.map((p) => el("li", {},
    el("span", {class: "score"}, fmtNum(p.score)), passageLink(p.id, p.text))));
  if (!hits.facts.length) $("#search-facts").append(el("li", {class: "muted"}, "no facts"));
  if (!hits.results.length) $("#search-passages").append(el("li", {class: "muted"}, "no passages"));
}

const passageLink = (id, text) => el("a", {href: "#memory", class: "passage-link", onclick: (e) => { e.preventDefault(); guarded(() => openPassage(id)); }}, text);
const entityLink = (name) => el("a", {href: "#memory", class: "entity-link", onclick: (e) => { e.preventDefault(); guarded(() => openEntity(name)); }}, name);

/** A fact with its subject and object clickable; a superseded one is struck through and says since when
 * and by which fact (its text when ``known`` maps its id to it). */
function factLine(f, known = {}) {
  const superseded = f.invalid_from !== null && f.invalid_from !== undefined;
  const by = known[f.superseded_by];
  return el("span", {class: superseded ? "fact superseded" : "fact", title: f.id},
    el("span", {class: "triple"}, entityLink(f.subject), ` ${f.relation} `, entityLink(f.object)),
    el("span", {class: "muted"}, superseded
      ? ` superseded ${fmtTime(f.invalid_from)} by ${by ? `“${by.subject} ${by.relation} ${by.object}”` : f.superseded_by}`
      : ` current since ${fmtTime(f.valid_from)}`));
}

const byId = (facts) => Object.fromEntries(facts.map((f) => [f.id, f]));

async function openPassage(id) {
  const p = await api("GET", `/v1/memory/passages/${encodeURIComponent(id)}`);
  const view = $("#memory-view");
  view.hidden = false;
  put(view, el("h2", {}, "Passage"), el("p", {class: "muted"}, p.id), el("blockquote", {}, p.text),
    el("h3", {}, "Entities"), el("p", {class: "chips"}, ...p.entities.map((e) => entityLink(e.name))),
    el("h3", {}, "Facts"), el("ul", {}, ...p.facts.map((f) => el("li", {}, factLine(f, byId(p.facts))))),
    Object.keys(p.metadata).length ? el("details", {}, el("summary", {}, "Metadata"), jsonView(p.metadata)) : null);
  view.scrollIntoView({behavior: "smooth"});
}

async function openEntity(name) {
  const n = await api("GET", `/v1/memory/entities/${encodeURIComponent(name)}`);
  const view = $("#memory-view");
  view.hidden = false;
  put(view, el("h2", {}, `Entity: ${n.name}`),
    el("p", {class: "muted"}, "Neighbourhood: blue lines carry relations, dashed orange join synonyms, grey join passages that name the entity. Click a node to open it."),
    drawGraph(n, {entity: (label) => guarded(() => openEntity(label)), passage: (id) => guarded(() => openPassage(id))}),
    el("h3", {}, "Facts about it (superseded ones struck through)"),
    el("ul", {class: "entity-facts"}, ...n.facts.map((f) => el("li", {}, factLine(f, byId(n.facts))))));
  view.scrollIntoView({behavior: "smooth"});
}

// ---- edit playground -------------------------------------------------------------------------
$("#edit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(tryEdit);
});

async function askModel(prompt, question) {
  const completion = await api("POST", "/v1/completions", {prompt, max_tokens: 12, temperature: 0});
  const chat = await api("POST", "/v1/chat/completions",
    {messages: [{role: "user", content: question}], max_tokens: 48, temperature: 0, memory: false});
  return {completion: completion.choices[0].text, chat: chat.choices[0].message.content};
}

async function tryEdit() {
  const prompt = $("#edit-prompt").value;
  const request = {prompt, subject: $("#edit-subject").value, target_new: $("#edit-target").value};
  if ($("#edit-true").value) request.target_true = $("#edit-true").value;
  const question = $("#edit-question").value || prompt;
  const out = $("#edit-out");
  out.hidden = false;
  put(out, el("p", {class: "muted"}, "Asking the model before the edit…"));
  const stateBefore = await api("GET", "/v1/state");
  const before = await askModel(prompt, question);
  put(out, el("p", {class: "muted"}, "Editing the weights (ROME)…"));
  let result;
  try {
    result = await api("POST", "/v1/edits", request);
  } catch (err) {
    if (err instanceof ApiError && err.body?.error?.type === "regression_guard") {
      put(out, el("h3", {}, "The regression guard rejected this edit"),
        el("p", {}, err.body.error.reason), guardTable(err.body.error.scores),
        el("p", {class: "muted"}, "It was reverted at once and recorded as reverted; nothing to discard."));
      return;
    }
    throw err;
  }
  const after = await askModel(prompt, question);
  const side = (label, b, a) => el("tr", {class: b === a ? "" : "changed"}, el("th", {}, label), el("td", {class: "old"}, b), el("td", {class: "new"}, a));
  const decision = el("div", {class: "decision"},
    el("button", {type: "button", onclick: () => { put(decision, el("p", {}, `Kept: entry ${result.entry.id} stays applied.`)); refreshStatus(); }}, "Keep"),
    el("button", {class: "danger", type: "button", onclick: () => guarded(async () => {
      await api("POST", `/v1/history/${encodeURIComponent(result.entry.id)}/revert`);
      const state = await api("GET", "/v1/state");
      const same = state.fingerprint === stateBefore.fingerprint;
      put(decision, el("p", {class: same ? "good" : "bad"},
        `Discarded: entry ${result.entry.id} reverted; weights ${state.fingerprint.slice(0, 12)} ` +
        (same ? "are bit-identical to before the edit." : "differ from before (another change happened meanwhile).")));
      refreshStatus();
    })}, "Discard (revert)"));
  put(out, el("h3", {}, result.entry.summary),
    el("table", {class: "side"}, el("tr", {}, el("th", {}, ""), el("th", {}, "before"), el("th", {}, "after")),
      side(`p(${request.target_new})`, fmtNum(result.before.p_new, 4), fmtNum(result.after.p_new, 4)),
      request.target_true ? side(`p(${request.target_true})`, fmtNum(result.before.p_true, 4), fmtNum(result.after.p_true, 4)) : null,
      side("completion of the prompt", before.completion, after.completion),
      side(`chat: ${question}`, before.chat, after.chat)),
    result.entry.details.guard ? guardTable(result.entry.details.guard) : null,
    decision);
  refreshStatus();
}

// ---- skills and jobs -------------------------------------------------------------------------
async function loadSkills() {
  await renderSkills();
  pollJobs();
}

async function renderSkills() {
  const {skills} = await api("GET", "/v1/skills");
  const head = el("tr", {}, ...["name", "status", "examples", "rehearsal", "created", "entry"].map((h) => el("th", {}, h)));
  put($("#skills-table"), head, ...skills.map((s) => el("tr", {},
    el("td", {title: s.instruction || ""}, s.name), el("td", {}, s.status), el("td", {}, String(s.n_examples)),
    el("td", {}, `${s.rehearsal} (${s.rehearsal_size})`), el("td", {}, fmtTime(s.created_at)), el("td", {}, s.entry_id || ""))));
  if (!skills.length) $("#skills-table").append(el("tr", {}, el("td", {class: "muted", colspan: 6}, "No skills yet.")));
}

const storedJobs = () => JSON.parse(localStorage.getItem(JOBS) || "[]");

function rememberJob(id) {
  localStorage.setItem(JOBS, JSON.stringify([id, ...storedJobs().filter((j) => j !== id)].slice(0, 20)));
  pollJobs();
}

$("#skill-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => {
    const examples = $("#skill-examples").value.split("\n").filter((l) => l.includes("=>")).map((line) => {
      const [input, ...rest] = line.split("=>");
      return {input: input.trim(), output: rest.join("=>").trim()};
    });
    const body = {name: $("#skill-name").value, examples};
    if ($("#skill-instruction").value) body.instruction = $("#skill-instruction").value;
    if ($("#skill-training").value) body.training = JSON.parse($("#skill-training").value);
    const {job} = await api("POST", "/v1/skills", body);
    rememberJob(job.id);
  });
});

let polling = false;

/** Poll the jobs this browser started until none is queued or running; progress bars update each second. */
async function pollJobs() {
  if (polling) return;
  polling = true;
  let waited = false;
  try {
    for (;;) {
      const jobs = (await Promise.all(storedJobs().map((id) => api("GET", `/v1/jobs/${id}`).catch(() => null)))).filter(Boolean);
      put($("#jobs-list"), ...jobs.map(jobRow));
      if (!jobs.length) $("#jobs-list").append(el("li", {class: "muted"}, "No jobs started from this browser."));
      if (!jobs.some((j) => j.status === "queued" || j.status === "running")) break;
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    polling = false;
  }
  if (waited) {  // a job finished: its skill (if any) is in the list now
    await guarded(renderSkills);
    refreshStatus();
  }
}

function jobRow(job) {
  const active = job.status === "queued" || job.status === "running";
  return el("li", {class: `job ${job.status}`},
    el("span", {class: "badge"}, job.status), ` ${job.kind} ${job.id} `,
    el("progress", {max: 1, value: job.progress}), ` ${Math.round(100 * job.progress)} % `,
    el("span", {class: "muted"}, job.message || job.error || ""),
    job.entry ? el("span", {}, " → entry ", el("a", {href: "#history"}, job.entry.id)) : null,
    active ? el("button", {type: "button", onclick: () => guarded(() => api("DELETE", `/v1/jobs/${job.id}`))}, "Cancel") : null);
}

// ---- chat ------------------------------------------------------------------------------------
const conversation = [];

$("#chat-clear").addEventListener("click", () => {
  conversation.length = 0;
  put($("#chat-log"));
});

$("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("#chat-text").value.trim();
  if (text) guarded(() => chat(text));
});

async function chat(text) {
  $("#chat-text").value = "";
  conversation.push({role: "user", content: text});
  $("#chat-log").append(el("div", {class: "msg user"}, text));
  const answer = el("span", {class: "answer"});
  const bubble = el("div", {class: "msg assistant"}, answer);
  $("#chat-log").append(bubble);
  const body = {messages: conversation, stream: true, max_tokens: 128, temperature: Number($("#chat-temperature").value)};
  if ($("#chat-memory").value) body.memory = $("#chat-memory").value === "true";
  const response = await fetch("/v1/chat/completions", {method: "POST", headers: headers(true), body: JSON.stringify(body)});
  if (!response.ok) {
    bubble.remove();
    conversation.pop();
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  let citations = [];
  let grounded = false;
  for await (const event of sseEvents(response)) {
    if (event.palimpsest) ({citations, grounded} = event.palimpsest);
    const delta = event.choices?.[0]?.delta?.content;
    if (delta) answer.textContent += delta;
    $("#chat-log").scrollTop = $("#chat-log").scrollHeight;
  }
  conversation.push({role: "assistant", content: answer.textContent});
  bubble.append(...citations.map((c, i) => el("sup", {class: "cite", title: `${c.type} ${c.id} (score ${fmtNum(c.score)}): ${c.text}`}, `[${i + 1}]`)));
  bubble.append(el("div", {class: "grounding"}, grounded
    ? el("ol", {}, ...citations.map((c) => el("li", {}, el("span", {class: "badge"}, c.type), " ",
      c.type === "passage" ? passageCitation(c) : c.text, el("span", {class: "score"}, ` ${fmtNum(c.score)}`))))
    : el("span", {class: "muted"}, "not grounded in the memory")));
}

const passageCitation = (c) => el("a", {href: "#memory", onclick: () => setTimeout(() => guarded(() => openPassage(c.id)), 0)}, c.text);

/** The JSON payloads of a server-sent event stream, until ``[DONE]``. */
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

// ---- start -----------------------------------------------------------------------------------
refreshStatus();
show(currentTab());
