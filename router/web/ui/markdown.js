// A strict subset of Markdown rendered to DOM nodes, for model answers in the playground.
//
// Safe by construction: the text only ever becomes text nodes and a fixed set of
// elements built here (p, h3-h5, ul/ol/li, blockquote, pre/code, strong, em, code, a,
// hr, table); no string is parsed as HTML, so a `<script>` or an `onerror=` in an answer
// is shown as the characters it is. Links keep only http(s) URLs and open in a new tab
// without a referrer. What it reads: ``` fenced code (with a language name), # headings,
// - / * / 1. lists, > quotes, --- rules, | tables |, **bold**, *italic*, `code`,
// [text](https://...). Anything else is a paragraph of plain text.
"use strict";

const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+.#-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_SEPARATOR = /^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$/;
// Inline: `code`, **strong**, *em* / _em_, [text](url). First match wins, left to right.
const INLINE = /`([^`\n]+)`|\*\*([^*\n]+?)\*\*|(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])|(?<!\w)_(?!\s)([^_\n]+?)_(?!\w)|\[([^\]\n]+)\]\(([^)\s]+)\)/g;

function node(tag, className) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  return element;
}

export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

// Inline markup of one line of text into `parent` (text nodes and fixed elements only).
export function renderInline(text, parent) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) parent.append(text.slice(last, match.index));
    const [whole, code, strong, em1, em2, label, url] = match;
    if (code !== undefined) {
      parent.append(Object.assign(node("code"), { textContent: code }));
    } else if (strong !== undefined) {
      renderInline(strong, parent.appendChild(node("strong")));
    } else if (em1 !== undefined || em2 !== undefined) {
      renderInline(em1 ?? em2, parent.appendChild(node("em")));
    } else {
      const href = safeUrl(url);
      if (href) {
        const link = node("a");
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
        renderInline(label, link);
        parent.append(link);
      } else {
        parent.append(whole);  // a javascript: or relative link stays text
      }
    }
    last = match.index + whole.length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

function paragraph(lines) {
  const p = node("p");
  lines.forEach((line, i) => {
    if (i) p.append(node("br"));
    renderInline(line, p);
  });
  return p;
}

function codeBlock(lines, language) {
  const pre = node("pre", "code");
  const code = node("code");
  if (language) {
    code.dataset.language = language;
    pre.dataset.language = language;
  }
  code.textContent = lines.join("\n");
  pre.append(code);
  return pre;
}

function cells(row) {
  return row.trim().replace(/^\||\|$/g, "").split("|").map((cell) => cell.trim());
}

function table(lines) {
  const wrap = node("div", "scroll");
  const t = wrap.appendChild(node("table"));
  const head = t.appendChild(node("thead")).appendChild(node("tr"));
  for (const cell of cells(lines[0])) renderInline(cell, head.appendChild(node("th")));
  const body = t.appendChild(node("tbody"));
  for (const line of lines.slice(2)) {
    const tr = body.appendChild(node("tr"));
    for (const cell of cells(line)) renderInline(cell, tr.appendChild(node("td")));
  }
  return wrap;
}

// Markdown text -> a DocumentFragment. An unclosed fence (a streaming answer) is a code
// block up to the end of the text.
export function renderMarkdown(text) {
  const out = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let para = [];
  const flush = () => {
    if (para.length) out.append(paragraph(para));
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const body = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[1]) &&
             lines[i].trim().replace(/[`~]/g, "") === "")) {
        body.push(lines[i]);
        i += 1;
      }
      out.append(codeBlock(body, fence[2]));
      i += 1;
      continue;
    }
    if (!line.trim()) { flush(); i += 1; continue; }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      const level = Math.min(5, heading[1].length + 2);  // h3..h5 inside a message
      renderInline(heading[2], out.appendChild(node("h" + level)));
      i += 1;
      continue;
    }
    if (RULE.test(line)) { flush(); out.append(node("hr")); i += 1; continue; }
    if (TABLE_ROW.test(line) && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      flush();
      const rows = [];
      while (i < lines.length && TABLE_ROW.test(lines[i])) rows.push(lines[i++]);
      out.append(table(rows));
      continue;
    }
    const quote = QUOTE.exec(line);
    if (quote) {
      flush();
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
      const block = node("blockquote");
      block.append(renderMarkdown(quoted.join("\n")));
      out.append(block);
      continue;
    }
    const bullet = BULLET.exec(line), numbered = NUMBERED.exec(line);
    if (bullet || numbered) {
      flush();
      const list = node(bullet ? "ul" : "ol");
      if (numbered && numbered[1] !== "1") list.start = Number(numbered[1]);
      const pattern = bullet ? BULLET : NUMBERED;
      while (i < lines.length && pattern.test(lines[i])) {
        const item = pattern.exec(lines[i++]);
        renderInline(bullet ? item[1] : item[2], list.appendChild(node("li")));
      }
      out.append(list);
      continue;
    }
    para.push(line);
    i += 1;
  }
  flush();
  return out;
}
