// The playground: a multi-turn chat against the same-origin /api/v1/chat/completions.
//
// What is on screen is what the next request sends: every turn shown is in `turns`, and
// a turn that failed (or was stopped before a word arrived) leaves the screen and the
// history together, its text back in the input. A stopped answer stays, as far as it
// got, and the page shows what it cost once the ledger has it.
import {
  credits, el, getJson, HttpError, ledgerTokens, secret, secretInput, tokensText,
} from "/ui/common.js";
import { renderMarkdown } from "/ui/markdown.js";
import { curlSnippet, javascriptSnippet, pythonSnippet } from "/ui/snippets.js";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const turns = [];  // {role, content, box}: the conversation, as shown and as sent
let image = null;  // {url, name}: the attached image as a data URL
let controller = null;

function options() {
  const body = { model: $("model").value, messages: [], stream: $("stream").checked };
  if (body.stream) body.stream_options = { include_usage: true };
  body.temperature = Number($("temperature").value);
  const cap = Number.parseInt($("max-tokens").value, 10);
  body.max_tokens = Number.isFinite(cap) && cap > 0 ? cap : 1024;
  if ($("effort").value) body.reasoning_effort = $("effort").value;
  if ($("thoughts").checked) {
    // Gemini's OpenAI-compatible form; other nodes ignore it.
    body.extra_body = { google: { thinking_config: { include_thoughts: true } } };
  }
  return body;
}

function pending() {
  const text = $("prompt").value;
  if (!image) return text ? { role: "user", content: text } : null;
  return {
    role: "user",
    content: [{ type: "text", text }, { type: "image_url", image_url: { url: image.url } }],
  };
}

// The request the page would send now (with what is typed in the input, if anything).
function requestBody(withPending) {
  const body = options();
  const system = $("system").value.trim();
  const messages = system ? [{ role: "system", content: system }] : [];
  for (const turn of turns) messages.push({ role: turn.role, content: turn.content });
  const next = withPending ? pending() : null;
  if (next) messages.push(next);
  body.messages = messages;
  return body;
}

function userBox(content) {
  const box = el("div", { class: "msg user" }, el("span", { class: "role" }, "you"));
  const parts = typeof content === "string" ? [{ type: "text", text: content }] : content;
  for (const part of parts) {
    if (part.type === "text" && part.text) box.append(el("div", { class: "content" }, part.text));
    if (part.type === "image_url") {
      const img = el("img", { class: "thumb", alt: "attached image" });
      img.src = part.image_url.url;
      box.append(img);
    }
  }
  return box;
}

function answerBox() {
  const box = el("div", { class: "msg assistant" }, el("span", { class: "role" }, "assistant"));
  const details = el("details", { class: "reasoning", open: "" }, el("summary", {}, "Reasoning"));
  const reasoning = el("div", { class: "reasoning-text" });
  details.append(reasoning);
  details.hidden = true;
  const content = el("div", { class: "content answer markdown" });
  const meta = el("div", { class: "meta muted" });
  box.append(details, content, meta);
  return { box, details, reasoning, content, meta, text: "", scheduled: false };
}

function render(view) {
  view.scheduled = false;
  view.content.replaceChildren(renderMarkdown(view.text));
}

function addDelta(view, delta) {
  const thinking = delta.reasoning_content ?? delta.reasoning;
  if (thinking) {
    view.details.hidden = false;
    view.reasoning.textContent += thinking;
  }
  if (delta.content) {
    view.text += delta.content;
    if (!view.scheduled) {  // at most one markdown render per frame while streaming
      view.scheduled = true;
      requestAnimationFrame(() => render(view));
    }
  }
}

function show(box) {
  $("conversation").append(box);
  $("empty").hidden = true;
  box.scrollIntoView({ block: "end" });
}

async function readStream(response, view, onUsage) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 1);
      if (!line.startsWith("data:")) continue;  // blank lines, ": keep-alive" comments
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      const event = JSON.parse(data);
      if (event.error) throw new HttpError(response.status, event);
      for (const choice of event.choices || []) addDelta(view, choice.delta || {});
      if (event.usage) onUsage(event.usage);
    }
  }
}

// OpenAI's usage in the words every page uses: its completion_tokens count the
// reasoning too, the ledger's "answer" does not.
export function usageTokens(usage) {
  const reasoning = (usage.completion_tokens_details || {}).reasoning_tokens || 0;
  return {
    prompt: usage.prompt_tokens,
    answer: Math.max(0, usage.completion_tokens - reasoning),
    reasoning,
  };
}

// The charge is settled just after the answer ends: the router holds the lookup until
// the ledger has it (?wait), then the account gives the balance after it.
async function showCharge(requestId, view, prefix) {
  const key = secret("router.key");
  if (!key || !requestId) return;
  let row, account;
  try {
    row = await getJson(`${API}/account/requests/${encodeURIComponent(requestId)}?wait=10`, key);
    account = await getJson(API + "/account", key);
  } catch (_) { return; }
  const cost = `${prefix}charged ${credits(row.credits)} credits · balance ` +
    `${credits(account.balance)}`;
  $("result").textContent = cost;
  Object.assign($("result").dataset, {
    charged: String(row.credits), balance: String(account.balance), requestId,
    settledBy: row.settled_by,
  });
  view.meta.textContent = `${tokensText(ledgerTokens(row.tokens))} tokens · ${credits(row.credits)} credits`;
  view.meta.title = `${row.credits} credits (${row.settled_by})`;
}

function putBack(message) {
  const parts = typeof message.content === "string"
    ? [{ type: "text", text: message.content }] : message.content;
  $("prompt").value = parts.filter((p) => p.type === "text").map((p) => p.text).join("\n");
  const picture = parts.find((p) => p.type === "image_url");
  if (picture) attach({ url: picture.image_url.url, name: "image" });
}

async function send() {
  if (controller || !$("model").value) return;
  const message = pending();
  if (!message) return;
  const body = requestBody(true);
  const user = { role: "user", content: message.content, box: userBox(message.content) };
  turns.push(user);
  show(user.box);
  $("prompt").value = "";
  attach(null);
  for (const id of ["error", "result"]) $(id).textContent = "";
  for (const name of Object.keys($("result").dataset)) delete $("result").dataset[name];
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  const view = answerBox();
  show(view.box);
  let usage = null;
  let requestId = null;
  let prefix = "";
  try {
    const headers = { "Content-Type": "application/json" };
    const key = secret("router.key");
    if (key) headers.Authorization = "Bearer " + key;
    const response = await fetch(API + "/chat/completions", {
      method: "POST", headers, body: JSON.stringify(body), signal: controller.signal,
    });
    requestId = response.headers.get("X-Request-ID");
    if (!response.ok) {
      let error = null;
      try { error = await response.json(); } catch (_) { error = null; }
      throw new HttpError(response.status, error);
    }
    if (body.stream) {
      await readStream(response, view, (u) => { usage = u; });
    } else {
      const answer = await response.json();
      addDelta(view, answer.choices[0].message);
      usage = answer.usage;
    }
    render(view);
    turns.push({ role: "assistant", content: view.text, box: view.box });
    $("result").textContent = usage ? `${tokensText(usageTokens(usage))} tokens`
      : "no usage reported";
    view.meta.textContent = $("result").textContent;
    prefix = $("result").textContent + " · ";
  } catch (error) {
    render(view);
    const stopped = error.name === "AbortError";
    if (stopped && view.text) {
      // Stopped mid-answer: what arrived stays, on screen and in the history.
      turns.push({ role: "assistant", content: view.text, box: view.box });
      view.box.classList.add("stopped");
    } else {
      // Nothing to keep: the turn leaves the screen and the history, its text returns.
      turns.pop();
      user.box.remove();
      view.box.remove();
      putBack(message);
      $("empty").hidden = turns.length > 0;
    }
    if (stopped) {  // a stopped request may still cost something: show what, once known
      $("result").textContent = view.text ? `stopped after ${view.text.length} characters`
        : "stopped before the answer began";
      $("result").dataset.stoppedAt = String(view.text.length);
      prefix = $("result").textContent + " · ";
    } else {
      $("error").textContent = error instanceof HttpError
        ? `${error.message} (${error.code}, HTTP ${error.status})`
        : String(error.message || error);
    }
  } finally {
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
  if (prefix) await showCharge(requestId, view, prefix);
}

function attach(picture) {
  image = picture;
  $("attachment").hidden = !picture;
  if (picture) {
    $("thumb").src = picture.url;
    $("image-name").textContent = picture.name;
  } else {
    $("thumb").removeAttribute("src");
    $("image").value = "";
  }
}

function copy(title, text) {
  $("snippet-box").hidden = false;
  $("snippet-title").textContent = title;
  $("snippet").textContent = text;
  $("snippet-box").scrollIntoView({ block: "nearest" });
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
}

// Settings fold away on a phone; a page that needs a key must not hide the key's field.
function askForKey() {
  $("settings").open = true;
}

async function loadModels() {
  $("error").textContent = "";
  if (document.documentElement.dataset.models === "key" && !secret("router.key")) {
    $("model").replaceChildren();
    $("error").textContent = "Type your API key to list the models.";
    askForKey();
    return;
  }
  try {
    const list = await getJson(API + "/models", secret("router.key"));
    $("model").replaceChildren(...list.data.map((m) => el("option", { value: m.id }, m.id)));
  } catch (error) {
    $("model").replaceChildren();
    $("error").textContent = error instanceof HttpError
      ? `models: ${error.message} (${error.code}, HTTP ${error.status})`
      : `models: ${String(error.message || error)}`;
    if (error instanceof HttpError && error.status === 401) askForKey();
  }
}

// A new key lists the models if they are not listed yet (no key before, or a wrong one).
secretInput($("key"), "router.key", () => $("model").options.length || loadModels());
$("send").addEventListener("click", send);
$("stop").addEventListener("click", () => controller && controller.abort());
$("clear").addEventListener("click", () => {
  turns.length = 0;
  $("conversation").replaceChildren();
  $("empty").hidden = false;
  for (const id of ["result", "error"]) $(id).textContent = "";
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    send();
  }
});
$("image").addEventListener("change", () => {
  const file = $("image").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => attach({ url: reader.result, name: file.name });
  reader.readAsDataURL(file);
});
$("unattach").addEventListener("click", () => attach(null));
$("temperature").addEventListener("input", () => {
  $("temperature-value").textContent = Number($("temperature").value).toFixed(1);
});
const origin = location.origin + API;
$("copy-curl").addEventListener("click", () =>
  copy("curl", curlSnippet(origin + "/chat/completions", requestBody(true))));
$("copy-python").addEventListener("click", () =>
  copy("Python (openai SDK)", pythonSnippet(origin, requestBody(true))));
$("copy-js").addEventListener("click", () =>
  copy("JavaScript (openai SDK, Node 18+)", javascriptSnippet(origin, requestBody(true))));
if (window.matchMedia("(max-width: 700px)").matches) $("settings").open = false;
loadModels();
