// durasumi console: one page, no dependencies, no build step (see docs/console.md).
//
// Safety rule: nothing here writes HTML. Every node is built with createElement and every
// string from the API lands in textContent, a text node or an attribute value.
"use strict";

(() => {
  const KEY = "durasumi.apiKey";
  const BASE = location.pathname.replace(/\/console\/?$/, "");
  const STATUSES = [
    "awaiting_payment", "awaiting_input", "running", "completed", "failed", "cancelled",
  ];
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const main = document.getElementById("main");
  let leave = () => {}; // stops what the current page runs (its event stream)
  let uid = 0;

  // -- DOM ------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "value" || name === "checked") node[name] = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    return add(node, children);
  }

  function add(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function page(...children) {
    const section = h("section", { class: "page" }, ...children);
    main.replaceChildren(section);
    return section;
  }

  function link(href, text, attrs) {
    return h("a", { href, ...attrs }, text);
  }

  function badge(status) {
    return h("span", { class: `badge s-${status}`, "data-status": status }, status);
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function when(value) {
    if (value === null || value === undefined || value === "") return "—";
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    return `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function ada(lovelace) {
    if (!lovelace) return "free";
    const whole = (lovelace / 1e6).toLocaleString("en", { maximumFractionDigits: 6 });
    return `${whole} ADA`;
  }

  // lovelace plus native-asset amounts ({unit: policy id + asset name hex, amount})
  function price(lovelace, amounts) {
    const tokens = (amounts || []).map((a) => {
      const hex = a.unit.slice(56);
      const name = (hex.match(/../g) || []).map((b) => String.fromCharCode(parseInt(b, 16)));
      const label = /^[\x20-\x7e]+$/.test(name.join("")) ? name.join("") : a.unit;
      return `${a.amount} ${label}`;
    });
    if (!tokens.length) return ada(lovelace);
    return (lovelace ? [ada(lovelace), ...tokens] : tokens).join(", ");
  }

  function randomHex(chars) {
    const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(chars / 2)));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, chars);
  }

  function notice(text, kind) {
    return h("p", { class: `notice ${kind || ""}`, role: kind === "error" ? "alert" : null }, text);
  }

  // A JSON value as nested lists: objects as term/description pairs, arrays as lists.
  function valueView(value) {
    if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
    if (Array.isArray(value)) {
      return h("ol", { class: "json-list" }, value.map((v) => h("li", {}, valueView(v))));
    }
    if (typeof value === "object") {
      return h("dl", { class: "json-map" },
        Object.entries(value).map(([k, v]) => [h("dt", {}, k), h("dd", {}, valueView(v))]));
    }
    if (typeof value === "string" && value.includes("\n")) return h("pre", {}, value);
    return h("span", {}, String(value));
  }

  // -- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.code = (body && body.error) || "error";
      this.errors = (body && Array.isArray(body.errors) && body.errors) || [];
    }
  }

  function headers(key, extra) {
    return { "X-API-Key": key || sessionStorage.getItem(KEY) || "", ...extra };
  }

  async function api(method, path, body, key) {
    const init = { method, cache: "no-store", headers: headers(key, { Accept: "application/json" }) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(BASE + path, init);
    } catch (err) {
      throw new ApiError(0, { message: `the API cannot be reached (${err.message})` });
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { error: "bad_response", message: text.slice(0, 200) };
    }
    if (!resp.ok) {
      const error = new ApiError(resp.status, data);
      if (resp.status === 401 && !key) signOut(`Signed out: ${error.message}`);
      throw error;
    }
    return data;
  }

  const enc = encodeURIComponent;

  // -- signing in ------------------------------------------------------------------------

  let signOutReason = "";

  function signOut(reason) {
    sessionStorage.removeItem(KEY);
    signOutReason = reason || "";
    route();
  }

  function keyLabel(key) {
    const [prefix, id] = key.split("_");
    return id ? `key ${prefix}_${id}` : "signed in";
  }

  function signInPage() {
    const error = h("p", { class: "notice error", role: "alert", hidden: !signOutReason },
      signOutReason);
    signOutReason = "";
    const input = h("input", {
      id: "api-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false",
      required: true, placeholder: "dsk_…",
    });
    const button = h("button", { type: "submit" }, "Sign in");
    const form = h("form", { id: "sign-in", class: "card narrow" },
      h("h1", {}, "Sign in"),
      h("p", { class: "muted" },
        "Paste a durasumi API key (durasumi keys create --role buyer --owner NAME). It stays ",
        "in this browser tab only and is sent as the X-API-Key header."),
      h("label", { for: "api-key" }, "API key"), input, button, error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      button.disabled = true;
      try {
        await api("GET", "/agents", undefined, key);
        sessionStorage.setItem(KEY, key);
        route();
      } catch (err) {
        error.textContent = err.status === 401 ? `That key was refused: ${err.message}`
          : err.message;
        error.hidden = false;
        button.disabled = false;
      }
    });
    page(form);
    input.focus();
  }

  // -- forms (MIP-003 input_schema) ------------------------------------------------------

  function rulesOf(field) {
    const rules = {};
    for (const v of field.validations || []) rules[v.validation] = String(v.value);
    return rules;
  }

  // The job's pending form arrives as durasumi's Form JSON (nested groups, group conditions);
  // turned into MIP-003 input_schema the way the server's Form.to_input_schema does it.
  function formToSchema(form) {
    const own = (f) => (f.data && f.data.visibleWhen ? [f.data.visibleWhen] : []);
    const render = (f, conds) => {
      const data = { ...(f.data || {}) };
      delete data.visibleWhen;
      if (conds.length === 1) data.visibleWhen = conds[0];
      else if (conds.length) data.visibleWhen = { all: conds };
      const out = { ...f };
      delete out.data;
      if (Object.keys(data).length) out.data = data;
      return out;
    };
    const fields = form.fields || [];
    if (!(form.groups || []).length) return { input_data: fields.map((f) => render(f, own(f))) };
    const groups = [];
    if (fields.length) {
      groups.push({ id: form.id, title: form.title, input_data: fields.map((f) => render(f, own(f))) });
    }
    const visit = (group, titles, inherited) => {
      const conds = group.visible_when ? [...inherited, group.visible_when] : inherited;
      const path = [...titles, group.title];
      if ((group.fields || []).length) {
        groups.push({
          id: group.id,
          title: path.join(" / "),
          input_data: group.fields.map((f) => render(f, [...conds, ...own(f)])),
        });
      }
      for (const sub of group.groups || []) visit(sub, path, conds);
    };
    for (const group of form.groups) visit(group, [], []);
    return { input_groups: groups };
  }

  function same(a, b) {
    if (typeof a === "boolean" || typeof b === "boolean") return a === b;
    if (typeof a === "number" || typeof b === "number") return Number(a) === Number(b);
    return a === b;
  }

  function expectedLike(value, field) {
    if (typeof value !== "string") return value;
    if (field.type === "number" || field.type === "range") {
      return value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : value;
    }
    if (field.type === "boolean" || field.type === "checkbox") {
      const word = value.trim().toLowerCase();
      if (word === "true" || word === "false") return word === "true";
    }
    return value;
  }

  // data.visibleWhen: {field, equals} | {field, in: [...]} | {all: [condition, ...]}.
  // A field that is hidden or has no value fails every condition (as on the server).
  function holds(cond, current) {
    if (!cond || typeof cond !== "object") return true;
    if (Array.isArray(cond.all)) return cond.all.every((c) => holds(c, current));
    const ref = current.get(cond.field);
    if (!ref || ref.value === undefined) return false;
    const expected = Array.isArray(cond.in) ? cond.in : [cond.equals];
    const items = Array.isArray(ref.value) ? ref.value : [ref.value];
    return items.some((v) => expected.some((e) => same(v, expectedLike(e, ref.field))));
  }

  function textValue(raw) {
    return raw === "" ? undefined : raw;
  }

  // One input for one field: {node, input, read()}; read() is undefined when empty.
  function widget(field, id) {
    const data = field.data || {};
    const rules = rulesOf(field);
    const initial = data.default;
    const type = field.type === "string" ? "text" : field.type;
    const choose = (name, inputType, values, checked) =>
      h("div", { class: "choices", role: "group", id },
        (values || []).map((v) => h("label", { class: "inline" },
          h("input", { type: inputType, name, value: v, checked: checked(v) }), ` ${v}`)));
    if (type === "boolean" || type === "checkbox") {
      const input = h("input", { id, type: "checkbox", checked: initial === true });
      return { node: input, input, inline: true, read: () => input.checked };
    }
    if (type === "option" && rules.max !== "1") {
      const chosen = new Set(Array.isArray(initial) ? initial : [initial]);
      const node = choose(id, "checkbox", data.values, (v) => chosen.has(v));
      const read = () => {
        const picked = [...node.querySelectorAll("input:checked")].map((i) => i.value);
        return picked.length ? picked : undefined;
      };
      return { node, input: node, read };
    }
    if (type === "option") {
      const input = h("select", { id },
        h("option", { value: "" }, "— choose —"),
        (data.values || []).map((v) => h("option", { value: v }, v)));
      if (typeof initial === "string") input.value = initial;
      return { node: input, input, read: () => textValue(input.value) };
    }
    if (type === "radio") {
      const node = choose(id, "radio", data.values, (v) => v === initial);
      const read = () => {
        const picked = node.querySelector("input:checked");
        return picked ? picked.value : undefined;
      };
      return { node, input: node, read };
    }
    if (type === "textarea" || type === "file") {
      const input = h("textarea", {
        id, rows: type === "file" ? 2 : 4, placeholder: data.placeholder
          || (type === "file" ? "https://… (one URL per line)" : null),
        maxlength: type === "textarea" ? rules.max : null,
      });
      if (typeof initial === "string") input.value = initial;
      if (type === "textarea") return { node: input, input, read: () => textValue(input.value) };
      const read = () => {
        const urls = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
        return urls.length > 1 ? urls : urls[0];
      };
      return { node: input, input, read };
    }
    if (type === "number" || type === "range") {
      const ranged = type === "range";
      const input = h("input", {
        id, type, inputmode: "decimal", placeholder: data.placeholder,
        min: ranged ? data.min : rules.min, max: ranged ? data.max : rules.max,
        step: ranged ? data.step || "any" : rules.format === "integer" ? "1" : "any",
      });
      const read = () => {
        const raw = input.value.trim();
        if (raw === "") return undefined;
        return Number.isFinite(Number(raw)) ? Number(raw) : raw;
      };
      if (!ranged) {
        if (initial !== undefined && initial !== null) input.value = String(initial);
        return { node: input, input, read };
      }
      // Set explicitly: browsers clamp a slider's implied default while min/max are set.
      const low = Number(data.min ?? 0);
      const high = Number(data.max ?? 100);
      input.value = String(initial ?? low + (high - low) / 2);
      const shown = h("output", { for: id, class: "range-value" }, input.value);
      input.addEventListener("input", () => { shown.textContent = input.value; });
      return { node: h("div", { class: "range" }, input, shown), input, read };
    }
    const known = ["text", "email", "url", "tel", "password", "search", "date", "datetime-local",
      "time", "month", "week", "color"];
    const input = h("input", {
      id, type: known.includes(type) ? type : "text", placeholder: data.placeholder,
      autocomplete: type === "password" ? "new-password" : "off",
    });
    if (initial !== undefined && initial !== null) input.value = String(initial);
    if (type === "color") {
      // A colour input always holds a value: send it only once chosen (or defaulted).
      let touched = initial !== undefined && initial !== null;
      input.addEventListener("input", () => { touched = true; });
      return { node: input, input, read: () => (touched ? input.value : undefined) };
    }
    return { node: input, input, read: () => textValue(input.value) };
  }

  // The whole form: the fields of an input_schema in document order, conditions applied live.
  function inputForm(schema) {
    const prefix = `f${++uid}`;
    const groups = schema.input_groups
      || [{ id: null, title: null, input_data: schema.input_data || [] }];
    const controls = [];
    const sets = [];
    const general = h("div", { class: "notice error form-errors", role: "alert", hidden: true });
    groups.forEach((group) => {
      const members = [];
      const rows = (group.input_data || []).map((field) => {
        const id = `${prefix}-${controls.length}`;
        const control = row(field, id);
        controls.push(control);
        members.push(control);
        return control.wrap;
      });
      if (group.title === null) {
        sets.push({ node: h("div", { class: "fields" }, rows), members });
      } else {
        const node = h("fieldset", { class: "group", "data-group": group.id },
          h("legend", {}, group.title), rows);
        sets.push({ node, members });
      }
    });
    const node = h("div", { class: "input-form" }, sets.map((s) => s.node), general);
    const update = () => {
      const current = new Map();
      for (const c of controls) {
        const shown = holds((c.field.data || {}).visibleWhen, current);
        c.wrap.hidden = !shown || c.field.type === "hidden";
        c.shown = shown;
        current.set(c.field.id, { field: c.field, value: shown ? c.read() : undefined });
      }
      for (const s of sets) s.node.hidden = s.members.every((c) => c.wrap.hidden);
    };
    node.addEventListener("input", (event) => { clearFor(event.target); update(); });
    node.addEventListener("change", update);
    update();

    function clearFor(target) {
      const control = controls.find((c) => c.wrap.contains(target));
      if (control) control.setErrors([]);
    }

    return {
      node,
      values() {
        update();
        const out = {};
        for (const c of controls) {
          if (!c.shown || c.field.type === "none" || c.field.type === "hidden") continue;
          const value = c.read();
          if (value !== undefined) out[c.field.id] = value;
        }
        return out;
      },
      showErrors(err) {
        const byField = new Map(controls.map((c) => [c.field.id, []]));
        const rest = [];
        for (const e of err.errors || []) {
          if (byField.has(e.field)) byField.get(e.field).push(e.message);
          else rest.push(`${e.field}: ${e.message}`);
        }
        for (const c of controls) c.setErrors(byField.get(c.field.id));
        const lines = [err.message, ...rest];
        general.replaceChildren(...lines.map((l) => h("div", {}, l)));
        general.hidden = false;
        const first = controls.find((c) => byField.get(c.field.id).length);
        if (first) first.input.focus();
      },
      clearErrors() {
        for (const c of controls) c.setErrors([]);
        general.hidden = true;
      },
      disable(flag) {
        for (const el of node.querySelectorAll("input, select, textarea")) el.disabled = flag;
      },
    };
  }

  function row(field, id) {
    const data = field.data || {};
    // A checkbox always sends true or false, so it never needs the "required" mark.
    const required = !(rulesOf(field).optional || "").match(/^true$/i)
      && !["none", "boolean", "checkbox"].includes(field.type);
    const errors = h("ul", { class: "field-error", id: `${id}-error`, hidden: true });
    const help = data.description ? h("p", { class: "help" }, data.description) : null;
    if (field.type === "none") {
      const wrap = h("div", { class: "field info", "data-field": field.id },
        h("strong", {}, field.name), help);
      return { field, wrap, input: wrap, read: () => undefined, setErrors: () => {} };
    }
    const w = widget(field, id);
    const label = h("label", { for: id, class: w.inline ? "inline" : null },
      field.name, required ? h("span", { class: "req", title: "required" }, " *") : null);
    w.input.setAttribute("aria-describedby", `${id}-error`);
    const wrap = h("div", { class: "field", "data-field": field.id, "data-type": field.type },
      w.inline ? h("div", { class: "check" }, w.node, label) : [label, w.node], help, errors);
    const setErrors = (messages) => {
      errors.replaceChildren(...messages.map((m) => h("li", {}, m)));
      errors.hidden = !messages.length;
      wrap.classList.toggle("invalid", messages.length > 0);
      if (messages.length) w.input.setAttribute("aria-invalid", "true");
      else w.input.removeAttribute("aria-invalid");
    };
    return { field, wrap, input: w.input, read: w.read, setErrors };
  }

  // -- agents ----------------------------------------------------------------------------

  function availability(agent) {
    if (agent.available === true) return h("span", { class: "badge ok" }, "available");
    if (agent.available === false) {
      return [h("span", { class: "badge bad" }, "offline"),
        agent.unavailable_reason ? h("div", { class: "muted" }, agent.unavailable_reason) : null];
    }
    return h("span", { class: "badge" }, "unknown");
  }

  async function agentsPage() {
    const body = h("div", {}, notice("Loading agents…"));
    page(h("h1", {}, "Agents"), body);
    let agents;
    try {
      agents = await api("GET", "/agents");
    } catch (err) {
      body.replaceChildren(notice(err.message, "error"));
      return;
    }
    if (!agents.length) {
      body.replaceChildren(notice("No agent is registered yet."));
      return;
    }
    body.replaceChildren(h("table", { class: "list", id: "agents" },
      h("thead", {}, h("tr", {}, ["Agent", "Vendor", "Price", "Availability", ""].map(
        (t) => h("th", {}, t)))),
      h("tbody", {}, agents.map((a) => h("tr", { "data-agent": a.name },
        h("td", {}, h("strong", {}, a.name), h("div", { class: "muted" }, a.description)),
        h("td", {}, a.vendor),
        h("td", { class: "price" }, ada(a.price_lovelace)),
        h("td", {}, availability(a)),
        h("td", { class: "actions" },
          link(`#/start/${enc(a.name)}`, "Start a job", { class: "button" }),
          link(`#/jobs?agent=${enc(a.name)}`, "Jobs")))))));
  }

  // -- starting a job --------------------------------------------------------------------

  async function startPage(name) {
    const body = h("div", {}, notice("Loading the agent's form…"));
    page(h("p", {}, link("#/agents", "← Agents")), h("h1", {}, "Start a job: ", name), body);
    let agent;
    let schema;
    try {
      [agent, schema] = await Promise.all([
        api("GET", `/agents/${enc(name)}`),
        api("GET", `/agents/${enc(name)}/input_schema`),
      ]);
    } catch (err) {
      body.replaceChildren(notice(err.message, "error"));
      return;
    }
    const form = inputForm(schema);
    const identifier = randomHex(16); // one per visit: a retried click names the same job
    const button = h("button", { type: "submit" }, "Start job");
    const paid = agent.price_lovelace > 0
      ? notice(`This agent costs ${ada(agent.price_lovelace)}. The job waits for your payment `
        + "into its escrow (durasumi pay JOB, or your wallet) before it runs.", "warn")
      : null;
    const el = h("form", { id: "start-form", class: "card", novalidate: true },
      h("p", {}, agent.description), paid, form.node,
      h("div", { class: "buttons" }, button,
        h("span", { class: "muted" }, `identifier_from_purchaser ${identifier}`)));
    el.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      form.clearErrors();
      try {
        const started = await api("POST", `/agents/${enc(name)}/start_job`, {
          identifier_from_purchaser: identifier,
          input_data: form.values(),
        });
        location.hash = `#/job/${enc(started.job_id)}`;
      } catch (err) {
        form.showErrors(err);
        button.disabled = false;
      }
    });
    body.replaceChildren(el);
  }

  // -- jobs ------------------------------------------------------------------------------

  async function jobsPage(params) {
    const agentFilter = params.get("agent") || "";
    const statusFilter = params.get("status") || "";
    const agentSelect = h("select", { id: "filter-agent" }, h("option", { value: "" }, "all agents"));
    const statusSelect = h("select", { id: "filter-status" },
      h("option", { value: "" }, "all statuses"),
      STATUSES.map((s) => h("option", { value: s }, s)));
    statusSelect.value = statusFilter;
    const apply = () => {
      const q = new URLSearchParams();
      if (agentSelect.value) q.set("agent", agentSelect.value);
      if (statusSelect.value) q.set("status", statusSelect.value);
      location.hash = `#/jobs${q.toString() ? `?${q}` : ""}`;
    };
    agentSelect.addEventListener("change", apply);
    statusSelect.addEventListener("change", apply);
    const rows = h("tbody", {});
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
    const state = h("div", {}, notice("Loading jobs…"));
    page(h("h1", {}, "Jobs"),
      h("div", { class: "filters" },
        h("label", { for: "filter-agent" }, "Agent"), agentSelect,
        h("label", { for: "filter-status" }, "Status"), statusSelect,
        h("button", { type: "button", class: "secondary", onclick: route }, "Refresh")),
      h("table", { class: "list", id: "jobs" },
        h("thead", {}, h("tr", {}, ["Job", "Agent", "Status", "Buyer", "Started"].map(
          (t) => h("th", {}, t)))),
        rows),
      state, more,
      h("p", { class: "muted" }, "Newest first. The list comes from Temporal visibility, ",
        "which can lag a second behind a job's start."));
    api("GET", "/agents").then((agents) => {
      const names = new Set(agents.map((a) => a.name));
      if (agentFilter) names.add(agentFilter);
      add(agentSelect, [...names].sort().map((n) => h("option", { value: n }, n)));
      agentSelect.value = agentFilter;
    }).catch(() => {});
    const load = async (token) => {
      const q = new URLSearchParams({ page_size: "50" });
      if (agentFilter) q.set("agent", agentFilter);
      if (statusFilter) q.set("status", statusFilter);
      if (token) q.set("page_token", token);
      more.hidden = true;
      try {
        const list = await api("GET", `/jobs?${q}`);
        add(rows, list.jobs.map((j) => h("tr", { "data-job": j.job_id },
          h("td", {}, link(`#/job/${enc(j.job_id)}`, j.job_id, { class: "mono" })),
          h("td", {}, j.agent), h("td", {}, badge(j.status)), h("td", {}, j.buyer),
          h("td", {}, when(j.started_at)))));
        state.replaceChildren(rows.children.length ? "" : notice("No jobs match."));
        if (list.next_page_token) {
          more.hidden = false;
          more.onclick = () => load(list.next_page_token);
        }
      } catch (err) {
        state.replaceChildren(notice(err.message, "error"));
      }
    };
    load(null);
  }

  // -- one job ---------------------------------------------------------------------------

  // Server-Sent Events over fetch: EventSource cannot send the X-API-Key header.
  function follow(jobId, onEvent, onState) {
    const abort = new AbortController();
    let last = 0;
    let delay = 500;
    const run = async () => {
      while (!abort.signal.aborted) {
        let ended = false;
        try {
          const extra = { Accept: "text/event-stream" };
          if (last) extra["Last-Event-ID"] = String(last);
          const resp = await fetch(`${BASE}/jobs/${enc(jobId)}/events`, {
            headers: headers(null, extra), cache: "no-store", signal: abort.signal,
          });
          if (resp.status === 401) return signOut("Signed out: the key was refused");
          if (resp.status >= 400 && resp.status < 500) return onState(`stopped (HTTP ${resp.status})`);
          if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
          onState("live");
          delay = 500;
          ended = await readEvents(resp.body, (event) => {
            if (event.id && /^\d+$/.test(event.id)) last = Number(event.id);
            onEvent(event);
          });
        } catch (err) {
          if (abort.signal.aborted) return;
        }
        if (ended) return onState("ended");
        onState("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 10000);
      }
    };
    run();
    return () => abort.abort();
  }

  // Parse one text/event-stream body; true once the server sent `event: end`.
  async function readEvents(body, dispatch) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      // Line ends may be \r\n or \r; a trailing \r waits for the next chunk's possible \n.
      buffer += value;
      const tail = buffer.endsWith("\r") ? "\r" : "";
      buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, "\n") + tail;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = { id: null, type: "message", data: [] };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const fieldName = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (fieldName === "id") event.id = text;
          else if (fieldName === "event") event.type = text;
          else if (fieldName === "data") event.data.push(text);
        }
        if (event.type === "end") return true;
        if (!event.data.length) continue;
        let data;
        try {
          data = JSON.parse(event.data.join("\n"));
        } catch {
          continue; // not JSON: not one of ours
        }
        dispatch({ ...event, data });
      }
    }
  }

  function percentOf(data) {
    if (typeof data.percent === "number") return data.percent;
    if (typeof data.done === "number" && typeof data.total === "number" && data.total > 0) {
      return (100 * data.done) / data.total;
    }
    return null;
  }

  function usageOf(job, events) {
    if (job.usage) return job.usage;
    const sum = { input_tokens: 0, output_tokens: 0, gpu_seconds: 0, llm_calls: 0, gpu_calls: 0 };
    for (const e of events) {
      if (e.kind !== "usage") continue;
      for (const k of Object.keys(sum)) if (typeof e.data[k] === "number") sum[k] += e.data[k];
    }
    return sum;
  }

  // The escrow from GET /jobs/{id} when the API answers it, else read off the payment events.
  function escrowOf(job, events) {
    if (job.escrow) return { ...job.escrow, source: "job" };
    let escrow = null;
    for (const e of events) {
      if (e.kind !== "payment") continue;
      const d = e.data || {};
      if (d.blockchain_identifier && d.price_lovelace !== undefined) {
        escrow = {
          ...escrow,
          blockchain_identifier: d.blockchain_identifier,
          price_lovelace: d.price_lovelace,
          script_address: d.script_address,
          times: {
            pay_by_time: d.pay_by_time, submit_result_time: d.submit_result_time,
            unlock_time: d.unlock_time, external_dispute_unlock_time: d.external_dispute_unlock_time,
          },
        };
      }
      if (escrow && d.escrow_state) {
        escrow.state = d.escrow_state;
        if (d.tx_id) escrow.transactions = [...(escrow.transactions || []), d];
      }
    }
    if (escrow && !escrow.state) {
      // No chain read reported yet: the job only leaves awaiting_payment once funds are locked.
      if (job.status === "awaiting_payment") escrow.state = "NotLocked";
      else if (job.status === "running" || job.status === "awaiting_input") escrow.state = "FundsLocked";
      else escrow.state = "unknown";
    }
    if (escrow) escrow.source = "events";
    return escrow;
  }

  function jobPage(jobId) {
    const st = { job: null, events: [], bars: new Map(), formFor: null, form: null, timer: null };
    const header = h("div", {}, notice("Loading the job…"));
    const problem = h("div", {});
    const live = h("span", { id: "stream-state", class: "muted" }, "connecting…");
    const progress = h("section", { id: "progress", class: "card", hidden: true },
      h("h2", {}, "Progress"));
    const pending = h("section", { id: "pending", class: "card", hidden: true });
    const result = h("section", { id: "result", class: "card", hidden: true });
    const payment = h("section", { id: "escrow", class: "card", hidden: true });
    const usage = h("section", { id: "usage", class: "card", hidden: true });
    const log = h("ol", { id: "events", class: "events" });
    page(h("p", {}, link("#/jobs", "← Jobs")),
      h("h1", {}, "Job ", h("span", { class: "mono", id: "job-id" }, jobId)),
      header, problem, progress, pending, result, payment, usage,
      h("section", { class: "card" }, h("h2", {}, "Events ", live), log));

    const refreshSoon = () => {
      clearTimeout(st.timer);
      st.timer = setTimeout(load, 120);
    };

    async function load() {
      try {
        st.job = await api("GET", `/jobs/${enc(jobId)}`);
      } catch (err) {
        problem.replaceChildren(notice(err.status === 404
          ? "No such job (or it is not yours)." : err.message, "error"));
        if (!st.job) header.replaceChildren();
        return;
      }
      problem.replaceChildren();
      renderHeader();
      renderPending();
      renderResult();
      renderMoney();
    }

    // The cancel controls are built once: a refresh must not close an open confirmation.
    let facts = null;
    let cancel = null;

    function renderHeader() {
      const job = st.job;
      if (!facts) {
        facts = h("dl", { class: "facts" });
        cancel = cancelControls();
        header.replaceChildren(h("div", { class: "card summary" }, facts, cancel));
      }
      facts.replaceChildren(
        h("dt", {}, "Status"), h("dd", { id: "job-status" }, badge(job.status)),
        h("dt", {}, "Agent"), h("dd", {}, link(`#/jobs?agent=${enc(job.agent)}`, job.agent)),
        h("dt", {}, "Buyer"), h("dd", {}, job.buyer),
        h("dt", {}, "Created"), h("dd", {}, when(job.created_at)),
        h("dt", {}, "Updated"), h("dd", {}, when(job.updated_at)));
      cancel.hidden = TERMINAL.has(job.status);
    }

    function cancelControls() {
      const box = h("div", { class: "buttons" });
      const ask = h("button", { type: "button", class: "danger", id: "cancel" }, "Cancel job");
      const status = h("span", { class: "muted" });
      ask.addEventListener("click", () => {
        const yes = h("button", { type: "button", class: "danger", id: "cancel-confirm" },
          "Yes, cancel it");
        const no = h("button", { type: "button", class: "secondary" }, "Keep it running");
        no.addEventListener("click", () => box.replaceChildren(ask, status));
        yes.addEventListener("click", async () => {
          yes.disabled = true;
          try {
            await api("POST", `/jobs/${enc(jobId)}/cancel`, { reason: "cancelled from the console" });
            box.replaceChildren(notice("Cancel requested: the job stops once the agent has seen it."));
          } catch (err) {
            box.replaceChildren(ask, notice(err.message, "error"));
          }
          refreshSoon();
        });
        box.replaceChildren(h("span", {}, "Stop this job? Money that moved is refunded. "), yes, no);
      });
      box.append(ask, status);
      return box;
    }

    function renderPending() {
      const request = st.job.pending_form;
      if (!request) {
        pending.hidden = true;
        pending.replaceChildren();
        st.formFor = null;
        return;
      }
      if (request.request_id === st.formFor) return; // keep what the user typed
      st.formFor = request.request_id;
      const spec = request.form;
      const form = inputForm(formToSchema(spec));
      const button = h("button", { type: "submit" }, "Send answer");
      const sent = h("span", { class: "muted", role: "status" });
      const el = h("form", { id: "answer-form", novalidate: true, "data-form": spec.id },
        h("h2", {}, spec.title),
        spec.description ? h("p", {}, spec.description) : null,
        request.deadline ? h("p", { class: "muted" }, `Answer by ${when(request.deadline)}`) : null,
        form.node, h("div", { class: "buttons" }, button, sent));
      el.addEventListener("submit", async (event) => {
        event.preventDefault();
        button.disabled = true;
        form.clearErrors();
        sent.textContent = "Sending…";
        try {
          await api("POST", `/jobs/${enc(jobId)}/input`, {
            request_id: request.request_id, form_id: spec.id, values: form.values(),
          });
          sent.textContent = "Answer accepted.";
          form.disable(true);
        } catch (err) {
          sent.textContent = "";
          form.showErrors(err);
          button.disabled = false;
          if (err.status === 409) refreshSoon(); // no longer pending: show what is
        }
        refreshSoon();
      });
      pending.replaceChildren(el);
      pending.hidden = false;
    }

    function renderResult() {
      const job = st.job;
      const parts = [];
      if (job.status === "completed") parts.push(h("h2", {}, "Result"), valueView(job.result));
      if (job.error) {
        parts.push(h("h2", {}, job.status === "cancelled" ? "Cancelled" : "Error"),
          notice(job.error, "error"));
      }
      result.replaceChildren(...parts);
      result.hidden = !parts.length;
    }

    function renderMoney() {
      const job = st.job;
      if (!job) return;
      const escrow = escrowOf(job, st.events);
      const payments = st.events.filter((e) => e.kind === "payment");
      if (escrow) {
        const t = escrow.times || {};
        payment.replaceChildren(h("h2", {}, "Escrow"), h("dl", { class: "facts" },
          h("dt", {}, "State"),
          h("dd", { id: "escrow-state" }, h("span", { class: "badge" }, escrow.state)),
          h("dt", {}, "Price"), h("dd", {}, price(escrow.price_lovelace, escrow.amounts)),
          h("dt", {}, "Blockchain id"),
          h("dd", { class: "mono clip", title: escrow.blockchain_identifier },
            escrow.blockchain_identifier),
          h("dt", {}, "Pay by"), h("dd", {}, when(t.pay_by_time)),
          h("dt", {}, "Result by"), h("dd", {}, when(t.submit_result_time)),
          h("dt", {}, "Unlocks"), h("dd", {}, when(t.unlock_time)),
          h("dt", {}, "Transactions"), h("dd", {}, (escrow.transactions || []).length
            ? h("ul", {}, escrow.transactions.map((x) => h("li", {},
              `${x.action}: `, h("span", { class: "mono" }, x.tx_id || "—"))))
            : "none yet")),
        escrow.source === "events"
          ? h("p", { class: "muted" }, "Read from the job's payment events.") : null);
        payment.hidden = false;
      } else if (payments.length) {
        payment.replaceChildren(h("h2", {}, "Payment"),
          h("p", { id: "escrow-state" }, payments[payments.length - 1].message));
        payment.hidden = false;
      }
      const u = usageOf(job, st.events);
      const metered = Object.values(u).some((v) => v);
      usage.replaceChildren(h("h2", {}, "Usage"), metered
        ? h("dl", { class: "facts" },
          h("dt", {}, "LLM calls"), h("dd", {}, String(u.llm_calls)),
          h("dt", {}, "Tokens in / out"), h("dd", {}, `${u.input_tokens} / ${u.output_tokens}`),
          h("dt", {}, "GPU calls"), h("dd", {}, String(u.gpu_calls)),
          h("dt", {}, "GPU seconds"), h("dd", {}, String(u.gpu_seconds)))
        : h("p", { class: "muted" }, "Nothing metered."));
      usage.hidden = false;
    }

    function onProgress(e) {
      const pct = percentOf(e.data || {});
      if (pct === null) return;
      const key = typeof e.data.label === "string" ? e.data.label : "";
      let bar = st.bars.get(key);
      if (!bar) {
        bar = { meter: h("progress", { max: 100 }), text: h("span", {}) };
        st.bars.set(key, bar);
        progress.append(h("div", { class: "meter", "data-label": key }, bar.meter, bar.text));
      }
      const clamped = Math.max(0, Math.min(100, pct));
      bar.meter.value = clamped;
      bar.meter.dataset.percent = String(Math.round(clamped));
      bar.text.textContent = `${Math.round(clamped)}% ${e.message || ""}`;
      progress.hidden = false;
    }

    function onEvent(sse) {
      const e = sse.data;
      if (typeof e !== "object" || e === null || typeof e.seq !== "number") return;
      if (st.events.length && e.seq <= st.events[st.events.length - 1].seq) return;
      st.events.push(e);
      const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : "";
      log.append(h("li", { "data-kind": e.kind, "data-seq": e.seq },
        h("span", { class: "seq" }, `#${e.seq}`), " ",
        h("span", { class: "muted" }, when(e.at)), " ",
        h("span", { class: `kind k-${e.kind}` }, e.kind), " ", e.message,
        data ? h("code", { class: "data" }, data) : null));
      if (e.kind === "progress") onProgress(e);
      if (e.kind === "progress" || e.kind === "usage") renderMoney();
      else refreshSoon();
    }

    load();
    leave = follow(jobId, onEvent, (state) => {
      live.textContent = state === "live" ? "● live" : state;
      live.dataset.state = state;
      if (state === "ended") refreshSoon();
    });
  }

  // -- routing ---------------------------------------------------------------------------

  function route() {
    leave();
    leave = () => {};
    const key = sessionStorage.getItem(KEY);
    const nav = document.getElementById("nav");
    const out = document.getElementById("sign-out");
    nav.hidden = !key;
    out.hidden = !key;
    document.getElementById("who").textContent = key ? keyLabel(key) : "";
    if (!key) return signInPage();
    const [path, query] = location.hash.replace(/^#/, "").split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    for (const a of nav.querySelectorAll("a")) {
      a.classList.toggle("active", a.dataset.nav === (parts[0] === "job" ? "jobs" : parts[0]));
    }
    if (parts[0] === "start" && parts[1]) return startPage(parts[1]);
    if (parts[0] === "job" && parts[1]) return jobPage(parts[1]);
    if (parts[0] === "jobs") return jobsPage(new URLSearchParams(query || ""));
    return agentsPage();
  }

  // For tests: the pending-form converter, checked against the server's own renderer.
  window.durasumiConsole = Object.freeze({ formToSchema });

  document.getElementById("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", route);
  route();
})();
