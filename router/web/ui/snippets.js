// The playground's "copy as" snippets: the current request as curl, Python (openai SDK) and
// JavaScript (openai SDK) code that runs as it is. Pure: a request body in, text out.
//
// Long strings (a base64 image, a pasted document) are cut to their first characters and
// marked "[... N characters cut]", so a snippet stays readable; the key is always read
// from $ROUTER_KEY, never written into the code.
"use strict";

export const LONGEST = 300;  // characters of one string kept whole
const KEPT = 80;

export function shortened(value) {
  if (typeof value === "string") {
    if (value.length <= LONGEST) return value;
    return `${value.slice(0, KEPT)}[... ${value.length - KEPT} characters cut]`;
  }
  if (Array.isArray(value)) return value.map(shortened);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shortened(v)]));
  }
  return value;
}

function shellQuote(text) {
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

// A Python literal for a JSON value: JSON's strings are valid Python strings, and only
// true/false/null differ, which are rewritten as values, never inside a string.
export function pythonLiteral(value, indent = "") {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "None";
  if (typeof value === "string") return JSON.stringify(value);
  const flat = JSON.stringify(value);
  if (flat.length <= 60) return flatPython(value);
  const inner = indent + "    ";
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return "[\n" + value.map((v) => inner + pythonLiteral(v, inner) + ",\n").join("") +
      indent + "]";
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return "{\n" + entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ` +
    `${pythonLiteral(v, inner)},\n`).join("") + indent + "}";
}

function flatPython(value) {
  if (Array.isArray(value)) return "[" + value.map((v) => pythonLiteral(v)).join(", ") + "]";
  return "{" + Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ` +
    pythonLiteral(v)).join(", ") + "}";
}

// The fields the SDKs take as arguments; everything else goes in extra_body.
const SDK_FIELDS = ["model", "messages", "stream", "stream_options", "temperature",
  "max_tokens", "reasoning_effort"];

function split(body) {
  const args = {}, extra = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === "extra_body") Object.assign(extra, value);
    else if (SDK_FIELDS.includes(key)) args[key] = value;
    else extra[key] = value;
  }
  return { args, extra };
}

export function curlSnippet(url, body) {
  return `curl -sN ${shellQuote(url)} \\\n` +
    `  -H "Authorization: Bearer $ROUTER_KEY" -H 'Content-Type: application/json' \\\n` +
    `  -d ${shellQuote(JSON.stringify(shortened(body)))}`;
}

export function pythonSnippet(baseUrl, body) {
  const { args, extra } = split(shortened(body));
  const lines = [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${JSON.stringify(baseUrl)}, api_key=os.environ["ROUTER_KEY"])`,
    "response = client.chat.completions.create(",
  ];
  for (const [key, value] of Object.entries(args)) {
    lines.push(`    ${key}=${pythonLiteral(value, "    ")},`);
  }
  if (Object.keys(extra).length) lines.push(`    extra_body=${pythonLiteral(extra, "    ")},`);
  lines.push(")");
  if (args.stream) {
    lines.push("for chunk in response:", "    if chunk.choices:",
      '        print(chunk.choices[0].delta.content or "", end="", flush=True)', "print()");
  } else {
    lines.push("print(response.choices[0].message.content)");
  }
  return lines.join("\n") + "\n";
}

export function javascriptSnippet(baseUrl, body) {
  const { args, extra } = split(shortened(body));
  const request = { ...args, ...extra };  // the Node SDK sends unknown fields as they are
  const lines = [
    'import OpenAI from "openai";',
    "",
    `const client = new OpenAI({ baseURL: ${JSON.stringify(baseUrl)}, ` +
      "apiKey: process.env.ROUTER_KEY });",
    `const response = await client.chat.completions.create(${JSON.stringify(request, null, 2)});`,
  ];
  if (args.stream) {
    lines.push("for await (const chunk of response) {",
      '  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");', "}",
      'process.stdout.write("\\n");');
  } else {
    lines.push("console.log(response.choices[0].message.content);");
  }
  return lines.join("\n") + "\n";
}
