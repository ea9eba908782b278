// The playground: a multi-turn chat against the same-origin /api/v1/chat/completions.
import { credits, el, getJson, HttpError, secret, secretInput } from "/ui/common.js";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const conversation = [];  // {role, content} as sent to the API
let image = null;  // data URL of the attached image
let controller = null;

function selectedOptions() {
  const body = { model: $("model").value, messages: [], stream: $("stream").checked };
  if (body.stream) body.stream_options = { include_usage: true };
  if ($("effort").value) body.reasoning_effort = $("effort").value;
  if ($("thoughts").checked) {
    // Gemini's OpenAI-compatible form; other nodes ignore it.
    body.extra_body = { google: { thinking_config: { include_thoughts: true } } };
  }
  return body;
}

function pendingMessage() {
  const text = $("prompt").value;
  if (!image) return { role: "user", content: text };
  return {
    role: "user",
    content: [{ type: "text", text }, { type: "image_url", image_url: { url: image } }],
  };
}

function requestBody(withPending) {
  const body = selectedOptions();
  body.messages = withPending && ($("prompt").value || image)
    ? [...conversation, pendingMessage()] : [...conversation];
  return body;
}

function showMessage(role, content) {
  const text = typeof content === "string" ? content
    : content.map((p) => (p.type === "text" ? p.text : "[image]")).join(" ");
  const box = el("div", { class: "msg " + role }, el("span", { class: "role" }, role));
  const body = el("div", { class: "content" }, text);
  box.append(body);
  $("conversation").append(box);
  return box;
}

function startAnswer() {
  const box = el("div", { class: "msg assistant" }, el("span", { class: "role" }, "assistant"));
  const details = el("details", { class: "reasoning", open: "" }, el("summary", {}, "Reasoning"));
  const reasoning = el("div", { class: "reasoning-text" });
  details.append(reasoning);
  details.hidden = true;
  const content = el("div", { class: "content answer" });
  box.append(details, content);
  $("conversation").append(box);
  return { box, details, reasoning, content };
}

function addDelta(view, delta) {
  if (delta.reasoning_content) {
    view.details.hidden = false;
    view.reasoning.textContent += delta.reasoning_content;
  }
  if (delta.content) view.content.textContent += delta.content;
}

async function readStream(response, view, onUsage) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
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

function usageText(usage) {
  if (!usage) return "no usage reported";
  const details = usage.completion_tokens_details || {};
  const reasoning = details.reasoning_tokens ? `, ${details.reasoning_tokens} reasoning` : "";
  return `tokens: ${usage.prompt_tokens} prompt, ${usage.completion_tokens} completion` +
    `${reasoning}, ${usage.total_tokens} total`;
}

// The charge is settled just after the answer ends: wait for the ledger to show it.
async function showCharge(requestId, usage) {
  const key = secret("router.key");
  if (!key || !requestId) return;
  for (let i = 0; i < 20; i++) {
    let account;
    try { account = await getJson(API + "/account", key); } catch (_) { return; }
    const row = account.recent.find((r) => r.request_id === requestId);
    if (row) {
      $("result").textContent = `${usageText(usage)} · charged ${credits(row.credits)} ` +
        `credits · balance ${credits(account.balance)}`;
      $("result").dataset.charged = String(row.credits);
      $("result").dataset.balance = String(account.balance);
      return;
    }
    await new Promise((done) => setTimeout(done, 250));
  }
}

async function send() {
  if (controller) return;
  if (!$("prompt").value && !image) return;
  const body = requestBody(true);
  const message = body.messages[body.messages.length - 1];
  conversation.push(message);
  showMessage("user", message.content);
  $("prompt").value = "";
  image = null;
  $("image").value = "";
  $("image-name").textContent = "";
  $("error").textContent = "";
  $("result").textContent = "";
  delete $("result").dataset.charged;
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  const view = startAnswer();
  let usage = null;
  let requestId = null;
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
    conversation.push({ role: "assistant", content: view.content.textContent });
    $("result").textContent = usageText(usage);
    await showCharge(requestId, usage);
  } catch (error) {
    conversation.pop();
    if (error.name === "AbortError") {
      view.content.textContent += " [stopped]";  // the partial answer stays on screen
      $("result").textContent = "stopped";
    } else {
      view.box.remove();
      $("error").textContent = error instanceof HttpError
        ? `${error.message} (${error.code}, HTTP ${error.status})`
        : String(error.message || error);
    }
  } finally {
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

function shellQuote(text) {
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

function curlSnippet() {
  const body = JSON.stringify(requestBody(true));
  return `curl -sN ${shellQuote(location.origin + API + "/chat/completions")} \\\n` +
    `  -H "Authorization: Bearer $ROUTER_KEY" -H 'Content-Type: application/json' \\\n` +
    `  -d ${shellQuote(body)}`;
}

function pythonSnippet() {
  const body = requestBody(true);
  const extra = body.extra_body ? `,\n    extra_body=${JSON.stringify({ extra_body: body.extra_body })}` : "";
  const effort = body.reasoning_effort ? `,\n    reasoning_effort=${JSON.stringify(body.reasoning_effort)}` : "";
  const lines = [
    "import os",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${JSON.stringify(location.origin + API)}, api_key=os.environ["ROUTER_KEY"])`,
    "response = client.chat.completions.create(",
    `    model=${JSON.stringify(body.model)},`,
    `    messages=${JSON.stringify(body.messages, null, 1).replace(/\n\s*/g, " ")},`,
    `    stream=${body.stream ? "True" : "False"}${effort}${extra},`,
    ")",
    body.stream
      ? "for chunk in response:\n    if chunk.choices:\n        print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)"
      : "print(response.choices[0].message.content)",
  ];
  return lines.join("\n").replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False");
}

function copy(text) {
  const pre = $("snippet");
  pre.hidden = false;
  pre.textContent = text;
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
}

async function loadModels() {
  $("error").textContent = "";
  if (document.documentElement.dataset.models === "key" && !secret("router.key")) {
    $("model").replaceChildren();
    $("error").textContent = "Type your API key to list the models.";
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
  }
}

// A new key lists the models if they are not listed yet (no key before, or a wrong one).
secretInput($("key"), "router.key", () => $("model").options.length || loadModels());
$("send").addEventListener("click", send);
$("stop").addEventListener("click", () => controller && controller.abort());
$("clear").addEventListener("click", () => {
  conversation.length = 0;
  $("conversation").replaceChildren();
  $("result").textContent = "";
  $("error").textContent = "";
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    send();
  }
});
$("image").addEventListener("change", () => {
  const file = $("image").files[0];
  image = null;
  $("image-name").textContent = "";
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { image = reader.result; $("image-name").textContent = file.name; };
  reader.readAsDataURL(file);
});
$("copy-curl").addEventListener("click", () => copy(curlSnippet()));
$("copy-python").addEventListener("click", () => copy(pythonSnippet()));
loadModels();
