// changetrail console: a small page over the console's JSON API (changetrail/console/server.py).
// No framework and nothing from the internet; every text goes in through textContent, only the
// state machine SVG (built and escaped by changetrail/console/graph.py) goes in as markup.
"use strict";

const REFRESH_MS = 4000;
let timer = null;
let info = {};

function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function status(text) { return h("span", {class: `status ${text}`, "data-status": text}, text); }
function seconds(value) { return value === null || value === undefined ? "-" : `${value.toFixed(3)} s`; }
function when(iso) { return iso ? iso.replace("T", " ").slice(0, 23) : "-"; }
function pretty(text) {
  if (text === null || text === undefined) return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return String(text); }
}
function failure(error) { return h("div", {class: "error-box", role: "alert"}, String(error.message || error)); }
function setMain(...children) { const main = document.getElementById("main"); main.replaceChildren(...children); return main; }
function stopTimer() { if (timer) clearInterval(timer); timer = null; }
function every(ms, action) { stopTimer(); timer = setInterval(action, ms); }
function query(hash) { return new URLSearchParams(hash.split("?")[1] || ""); }

/** A choice of the stack's source tables ("" for all of them), preselected from the view's ?table=. */
function tableFilter(id, params) {
  const chosen = params.get("table") || "";
  return h("select", {id, "aria-label": "source table"},
    ["", ...(info.source_tables || [])].map((t) => h("option", {value: t, selected: t === chosen}, t || "all tables")));
}

// -- executions ------------------------------------------------------------------------------
function executionsView(params) {
  const statusSelect = h("select", {id: "status-filter", "aria-label": "status"},
    ["", "RUNNING", "SUCCEEDED", "FAILED"].map((s) => h("option", {value: s, selected: s === (params.get("status") || "")}, s || "all statuses")));
  const limitSelect = h("select", {id: "limit", "aria-label": "how many"},
    [25, 50, 100, 200].map((n) => h("option", {value: n, selected: String(n) === (params.get("limit") || "25")}, `last ${n}`)));
  const tableSelect = tableFilter("executions-table", params);
  const auto = h("input", {type: "checkbox", id: "auto-refresh", checked: true});
  const updated = h("span", {class: "muted", id: "updated"});
  const body = h("tbody", {id: "executions-body"});
  const table = h("table", {id: "executions"},
    h("thead", {}, h("tr", {}, ["Status", "Name", "Table", "Started (UTC)", "Duration", "Records", "Error in state"].map((t, i) =>
      h("th", {class: i === 4 || i === 5 ? "num" : null}, t)))), body);
  const message = h("div");
  async function load() {
    try {
      const params = new URLSearchParams({limit: limitSelect.value});
      if (statusSelect.value) params.set("status", statusSelect.value);
      if (tableSelect.value) params.set("table", tableSelect.value);
      const data = await api(`/api/executions?${params}`);
      body.replaceChildren(...data.executions.map((e) => h("tr", {"data-name": e.name, "data-status": e.status},
        h("td", {}, status(e.status)),
        h("td", {class: "mono"}, h("a", {href: `#/executions/${encodeURIComponent(e.name)}`}, e.name)),
        h("td", {class: "table-name"}, e.table || "-"),
        h("td", {}, when(e.start)),
        h("td", {class: "num"}, seconds(e.seconds)),
        h("td", {class: "num"}, e.records ?? "-"),
        h("td", {}, e.error ? `${e.error}${e.failed_state ? ` in ${e.failed_state}` : ""}` : ""))));
      message.replaceChildren(data.executions.length ? "" : h("p", {class: "muted"}, "No executions yet: change an item of the source table."),
        data.note ? h("p", {class: "muted", id: "unnamed-note"}, data.note) : "");
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) { message.replaceChildren(failure(error)); }
  }
  const refilter = () => {
    history.replaceState(null, "", `#/executions?status=${statusSelect.value}&limit=${limitSelect.value}&table=${encodeURIComponent(tableSelect.value)}`);
    load();
  };
  statusSelect.addEventListener("change", refilter);
  limitSelect.addEventListener("change", refilter);
  tableSelect.addEventListener("change", refilter);
  auto.addEventListener("change", () => (auto.checked ? every(REFRESH_MS, load) : stopTimer()));
  setMain(h("section", {class: "panel"},
    h("h2", {}, `Executions of ${info.state_machine_name || "the state machine"}`),
    h("div", {class: "toolbar"}, statusSelect, tableSelect, limitSelect, h("button", {id: "refresh", onclick: load}, "Refresh"),
      h("label", {}, auto, " auto-refresh"), h("span", {class: "grow"}), updated),
    message, table));
  load();
  every(REFRESH_MS, load);
}

function executionView(name) {
  const container = h("div", {id: "execution"}, h("p", {class: "muted"}, "Loading…"));
  setMain(h("p", {}, h("a", {href: "#/executions"}, "← Executions")), container);
  async function load() {
    try {
      const data = await api(`/api/executions/${encodeURIComponent(name)}`);
      renderExecution(container, data);
      if (data.execution.status !== "RUNNING") stopTimer();
    } catch (error) { container.replaceChildren(failure(error)); stopTimer(); }
  }
  load();
  every(REFRESH_MS, load);
}

function renderExecution(container, data) {
  const e = data.execution;
  const summary = h("section", {class: "panel", id: "execution-summary"},
    h("h2", {}, status(e.status), " ", h("span", {class: "mono"}, e.name)),
    h("dl", {class: "kv"},
      h("dt", {}, "ARN"), h("dd", {class: "mono"}, e.arn),
      h("dt", {}, "Started"), h("dd", {}, when(e.start)),
      h("dt", {}, "Duration"), h("dd", {}, seconds(e.seconds)),
      h("dt", {}, "Records"), h("dd", {}, e.records ?? "-")),
    e.status === "FAILED" ? h("div", {class: "error-box", id: "failure"},
      h("div", {}, h("strong", {}, "Failed in "), h("strong", {id: "failed-state"}, e.failed_state || "?"), ": ",
        h("span", {class: "mono", id: "failure-error"}, e.error || "")),
      h("div", {class: "cause mono", id: "failure-cause"}, e.cause || "")) : null);
  const graphBox = h("div", {class: "graph-box", id: "graph"});
  graphBox.innerHTML = data.graph.svg;  // built and escaped server-side (changetrail/console/graph.py)
  const legend = h("div", {class: "legend"},
    ["succeeded", "caught", "failed", "running", "not_reached"].map((o) => h("span", {class: o}, o.replace("_", " "))),
    h("em", {class: "muted"}, "! marks the failed state: where the error the dead letter carries arose"));
  const steps = h("table", {id: "steps"},
    h("thead", {}, h("tr", {}, ["State", "Type", "Entered", "Duration", "Outcome"].map((t) => h("th", {}, t)))),
    h("tbody", {}, e.steps.map((s) => {
      const outcome = (data.graph.outcomes[s.name] || {}).outcome || "";
      return h("tr", {"data-state": s.name},
        h("td", {}, s.name), h("td", {}, s.kind),
        h("td", {class: "num"}, `+${((Date.parse(s.entered) - Date.parse(e.start)) / 1000).toFixed(3)} s`),
        h("td", {class: "num"}, seconds(s.seconds)),
        h("td", {}, s.error ? h("span", {}, `${outcome}: ${s.error}`, h("div", {class: "muted mono"}, s.cause || "")) : outcome));
    })));
  const events = h("table", {id: "events"},
    h("thead", {}, h("tr", {}, ["#", "Offset", "Type", "State", "Detail"].map((t) => h("th", {}, t)))),
    h("tbody", {}, data.events.map((ev) => h("tr", {"data-type": ev.type},
      h("td", {class: "num"}, ev.index), h("td", {class: "num"}, `+${ev.offset.toFixed(3)} s`),
      h("td", {}, ev.type), h("td", {}, ev.state || ""),
      h("td", {}, ev.error ? h("div", {class: "mono"}, `${ev.error}: ${ev.cause || ""}`) : null,
        ev.input ? h("details", {}, h("summary", {}, "input"), h("pre", {}, pretty(ev.input))) : null,
        ev.output ? h("details", {}, h("summary", {}, "output"), h("pre", {}, pretty(ev.output))) : null)))));
  const io = h("section", {class: "panel"}, h("h2", {}, "Input and output"),
    data.input ? h("details", {}, h("summary", {}, "execution input"), h("pre", {id: "execution-input"}, pretty(data.input)))
      : h("p", {class: "muted"}, "The input was not logged (execution data is off for this state machine)."),
    data.output ? h("details", {}, h("summary", {}, "execution output"), h("pre", {}, pretty(data.output))) : null);
  container.replaceChildren(summary,
    h("div", {class: "columns"},
      h("section", {class: "panel"}, h("h2", {}, "Graph"), legend, graphBox),
      h("div", {},
        h("section", {class: "panel"}, h("h2", {}, "Timeline"), steps),
        io,
        h("section", {class: "panel"}, h("h2", {}, `Events (${data.events.length})`), events))));
}

// -- dead letters ----------------------------------------------------------------------------
function deadLettersView(params) {
  const list = h("div", {id: "dead-letters"}, h("p", {class: "muted"}, "Loading…"));
  const result = h("div", {id: "redrive-result"});
  const errorFilter = h("select", {id: "redrive-error", "aria-label": "error"}, h("option", {value: ""}, "every error"));
  const tableSelect = tableFilter("dead-letters-table", params);
  const dryRun = h("button", {id: "dry-run", class: "primary"}, "Dry run redrive");
  async function load() {
    try {
      const data = await api(`/api/dead-letters${tableSelect.value ? `?table=${encodeURIComponent(tableSelect.value)}` : ""}`);
      const errors = [...new Set(data.groups.map((g) => g.error))];
      const chosen = errorFilter.value;
      errorFilter.replaceChildren(h("option", {value: ""}, "every error"),
        ...errors.map((e) => h("option", {value: e, selected: e === chosen}, e)));
      const where = [...data.queues.map((q) => q.name), data.fallback ? "the payload-bucket fallback" : null].filter(Boolean);
      list.replaceChildren(
        h("p", {id: "dead-letter-count"}, `${data.listed} dead letter(s) in ${where.join(", ")}`,
          data.depth > data.listed ? h("span", {class: "muted"}, ` (${data.depth - data.listed} more in flight: being redriven or read)`) : null),
        ...data.groups.map(renderGroup));
    } catch (error) { list.replaceChildren(failure(error)); }
  }
  tableSelect.addEventListener("change", () => {
    history.replaceState(null, "", `#/dead-letters?table=${encodeURIComponent(tableSelect.value)}`);
    result.replaceChildren();
    load();
  });
  dryRun.addEventListener("click", async () => {
    dryRun.disabled = true;
    result.replaceChildren(h("p", {class: "muted"}, "Dry run …"));
    try {
      const data = await api("/api/redrive", {error: errorFilter.value || null, table: tableSelect.value || null});
      result.replaceChildren(renderDryRun(data, load));
    } catch (error) { result.replaceChildren(failure(error)); }
    dryRun.disabled = false;
  });
  setMain(h("section", {class: "panel"}, h("h2", {}, "Dead letters"),
    h("p", {class: "muted"}, "The pipeline DLQ, each source's stream-failures queue and the payload-bucket fallback, grouped by error and failed state. Reading them here takes nothing away."),
    h("div", {class: "toolbar"}, tableSelect, errorFilter, dryRun, h("button", {id: "reload-letters", onclick: load}, "Refresh")),
    result, list));
  load();
}

function renderGroup(group) {
  return h("div", {class: "group", "data-group": group.group},
    h("div", {class: "head"}, h("span", {class: "count"}, `${group.count} ×`), h("span", {class: "mono"}, group.error),
      h("span", {class: "muted"}, "in"), h("strong", {}, group.failedState)),
    group.letters.map((letter) => h("div", {class: "letter", "data-message-id": letter.messageId},
      h("dl", {class: "kv"},
        letter.execution ? [h("dt", {}, "execution"),
          h("dd", {class: "mono"}, h("a", {href: `#/executions/${encodeURIComponent(letter.execution)}`}, letter.execution))] : null,
        h("dt", {}, "table"), h("dd", {class: "table-name"}, letter.table),
        letter.failedAt ? [h("dt", {}, "failed at"), h("dd", {}, letter.failedAt)] : null,
        h("dt", {}, "attempt"), h("dd", {}, letter.attempt),
        letter.records !== null && letter.records !== undefined ? [h("dt", {}, "records"), h("dd", {}, letter.records)] : null,
        letter.keys.length ? [h("dt", {}, "items"), h("dd", {class: "mono"}, letter.keys.join(", "))] : null,
        letter.recordsRef ? [h("dt", {}, "records at"), h("dd", {class: "mono"}, `s3://${letter.recordsRef.bucket}/${letter.recordsRef.key}`)] : null,
        letter.stream ? [h("dt", {}, "stream range"),
          h("dd", {class: "mono"}, `${letter.stream.shardId} ${letter.stream.startSequenceNumber}…${letter.stream.endSequenceNumber}`)] : null,
        h("dt", {}, "from"), h("dd", {class: "mono"}, `${letter.source}: ${letter.where}`),
        letter.cause ? [h("dt", {}, "cause"), h("dd", {class: "mono cause"}, letter.cause)] : null),
      h("details", {}, h("summary", {}, "whole letter"), h("pre", {}, JSON.stringify(letter.body, null, 2))))));
}

function summaryLine(totals) {
  return `redriven ${totals.redriven}, succeeded ${totals.succeeded}, failed again ${totals.failed_again}, left ${totals.left}`;
}

function renderDryRun(data, reload) {
  const groups = Object.entries(data.groups).sort((a, b) => b[1] - a[1]);
  const box = h("div", {class: "notice", id: "dry-run-result"},
    h("p", {}, h("strong", {id: "would-redrive"}, `would redrive ${data.totals.would_redrive} message(s)${data.table ? ` of ${data.table}` : ""}`),
      " (dry run: nothing started, nothing deleted); by error and failed state:"),
    h("table", {}, h("tbody", {}, groups.map(([group, count]) => h("tr", {}, h("td", {class: "num"}, count), h("td", {class: "mono"}, group))))),
    data.outcomes.filter((o) => o.action !== "would-redrive").map((o) => h("p", {class: "muted"}, `left ${o.message_id}: ${o.action}: ${o.detail}`)));
  if (!data.confirmation) { box.append(h("p", {}, "Nothing to redrive.")); return box; }
  const confirm = h("button", {class: "danger", id: "confirm-redrive"}, `Redrive ${data.totals.would_redrive} message(s) now`);
  const cancel = h("button", {id: "cancel-redrive"}, "Cancel");
  const outcome = h("div");
  confirm.addEventListener("click", async () => {
    confirm.disabled = cancel.disabled = true;
    outcome.replaceChildren(h("p", {class: "muted"}, "Redriving and waiting for the new executions …"));
    try {
      const done = await api("/api/redrive", {confirm: data.confirmation});
      outcome.replaceChildren(h("div", {class: done.totals.left || done.totals.failed_again ? "warn" : "notice"},
        h("strong", {id: "redrive-summary"}, summaryLine(done.totals)),
        done.outcomes.filter((o) => o.detail).map((o) => h("p", {class: "muted"}, `${o.message_id}: ${o.action}: ${o.detail}`))));
      reload();
    } catch (error) { outcome.replaceChildren(failure(error)); }
  });
  cancel.addEventListener("click", () => box.remove());
  box.append(h("p", {}, `The redrive starts new executions for at most the ${data.outcomes.length} letter(s) looked at, `
    + "waits for them and deletes a letter only once its change got through (or failed into a newer letter)."),
    h("div", {class: "toolbar"}, confirm, cancel), outcome);
  return box;
}

// -- item history ----------------------------------------------------------------------------
function historyView(params) {
  const key = h("input", {id: "history-key", placeholder: "item key (hash|range for composite keys)", size: 36, value: params.get("key") || "", required: true});
  const table = h("input", {id: "history-table", placeholder: "any table", list: "tables", size: 18, value: params.get("table") || ""});
  const tables = h("datalist", {id: "tables"}, ...(info.source_tables || []).map((name) => h("option", {value: name})));
  const limit = h("input", {id: "history-limit", type: "number", min: 1, max: 500, value: params.get("limit") || 100, size: 5});
  const results = h("div", {id: "history-results"});
  const form = h("form", {class: "toolbar", id: "history-form"},
    h("label", {}, "Key ", key), h("label", {}, "Table ", table, tables), h("label", {}, "Limit ", limit),
    h("button", {class: "primary", type: "submit", id: "history-search"}, "Show history"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const search = new URLSearchParams({key: key.value});
    if (table.value) search.set("table", table.value);
    if (limit.value) search.set("limit", limit.value);
    history.replaceState(null, "", `#/history?${search}`);
    load(search);
  });
  async function load(search) {
    if (!search.get("key")) return;
    results.replaceChildren(h("p", {class: "muted"}, "Loading…"));
    try {
      const data = await api(`/api/history?${search}`);
      results.replaceChildren(data.rows.length ? renderHistory(data) : h("p", {id: "history-empty"}, `No audit rows for ${data.key}.`));
    } catch (error) { results.replaceChildren(failure(error)); }
  }
  setMain(h("section", {class: "panel"}, h("h2", {}, "Item history"),
    h("p", {class: "muted"}, `One item's audit rows in ${info.audit_table_name || "the Audit table"}, newest first, values whole.`),
    form, results));
  if (params.get("key")) load(params);
}

function renderHistory(data) {
  const body = h("tbody");
  for (const row of data.rows) {
    const line = h("tr", {class: "archive-line", hidden: true}, h("td", {colspan: 6}));
    const link = h("button", {class: "archive-link"}, "archive line");
    link.addEventListener("click", async () => {
      line.hidden = false;
      line.firstChild.replaceChildren(h("p", {class: "muted"}, "Reading the archive as the reader role …"));
      try {
        const params = new URLSearchParams({table: row.table, time: row.modificationTime, sequence: row.sequenceNumber, eventId: row.eventId});
        const found = await api(`/api/archive-line?${params}`);
        line.firstChild.replaceChildren(h("div", {},
          h("span", {class: "mono archive-uri"}, `${found.uri}, line ${found.line} of ${found.lines}`),
          h("span", {class: "muted"}, ` (read as ${found.readAs})`),
          h("pre", {}, JSON.stringify(found.record, null, 2))));
      } catch (error) { line.firstChild.replaceChildren(failure(error)); }
    });
    const values = row.valuesInArchive
      ? h("span", {class: "muted"}, `values in the archive (${row.valuesInArchive.attributes.join(", ")})`)
      : h("span", {class: "value"}, h("pre", {class: "old-value"}, row.oldText ?? "-"), h("span", {class: "arrow"}, "→"),
        h("pre", {class: "new-value"}, row.newText ?? "-"));
    body.append(h("tr", {class: "history-row", "data-event": row.eventName},
      h("td", {}, when(row.modificationTime)), h("td", {}, row.eventName), h("td", {}, row.table),
      h("td", {class: "mono"}, row.updatedAttribute || "-"), h("td", {}, values), h("td", {}, link)), line);
  }
  return h("table", {id: "history"},
    h("thead", {}, h("tr", {}, ["Time (UTC)", "Event", "Table", "Attribute", "Old → new", "Evidence"].map((t) => h("th", {}, t)))), body);
}

// -- routing ---------------------------------------------------------------------------------
function route() {
  stopTimer();
  const hash = location.hash || "#/executions";
  const path = hash.slice(1).split("?")[0];
  const tab = path.split("/")[1] || "executions";
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.tab === tab);
  if (path.startsWith("/executions/")) executionView(decodeURIComponent(path.slice("/executions/".length)));
  else if (tab === "dead-letters") deadLettersView(query(hash));
  else if (tab === "history") historyView(query(hash));
  else executionsView(query(hash));
}

async function boot() {
  try {
    info = await api("/api/info");
    document.getElementById("stack").textContent = `stack ${info.stack} · ${info.region}${info.endpoint_url ? ` · ${info.endpoint_url}` : ""}`;
  } catch (error) { document.getElementById("stack").textContent = `stack unknown: ${error.message}`; }
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", boot);
