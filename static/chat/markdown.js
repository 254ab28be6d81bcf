// Turns an answer's Markdown into safe HTML: marked parses (with $…$ / $$…$$ / \(…\) / \[…\]
// math), DOMPurify sanitizes, then code is highlighted, math typeset by KaTeX, links made to
// open in a new tab and images from other sites turned into links. Model output is untrusted:
// nothing of it reaches the page without passing DOMPurify first. marked, DOMPurify, highlight.js
// and KaTeX are the vendor scripts the page loads before its modules; without marked or
// DOMPurify, answers show as plain text.
export const ready = typeof marked !== "undefined" && typeof DOMPurify !== "undefined";

function escapeAttribute(text) {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function mathPlaceholder(tex, display) {
  const tag = display ? "div" : "span";
  return `<${tag} class="math" data-display="${display ? 1 : 0}" data-tex="${escapeAttribute(tex)}"></${tag}>`;
}

// Display math on lines of its own: $$…$$ or \[…\].
const mathBlock = {
  name: "mathBlock",
  level: "block",
  start(src) {
    const match = /^[ \t]*(?:\$\$|\\\[)/m.exec(src);
    return match ? match.index : undefined;
  },
  tokenizer(src) {
    const match = /^[ \t]*(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n+|$)/.exec(src);
    if (match) return { type: "mathBlock", raw: match[0], text: (match[1] ?? match[2]).trim() };
  },
  renderer(token) {
    return mathPlaceholder(token.text, true) + "\n";
  },
};

// Math within a line: $…$, \(…\), and $$…$$ or \[…\] inside a paragraph. "$5 or $10" is
// not math: the opening $ is not followed, nor the closing one preceded, by a space.
const INLINE = [
  [/^\$\$([\s\S]+?)\$\$/, true],
  [/^\\\[([\s\S]+?)\\\]/, true],
  [/^\\\(([\s\S]+?)\\\)/, false],
  [/^\$(?![\s$])((?:\\[\s\S]|[^\\$\n])+?)(?<![\s\\])\$(?!\d)/, false],
];
const mathInline = {
  name: "mathInline",
  level: "inline",
  start(src) {
    const match = /\$|\\[([]/.exec(src);
    return match ? match.index : undefined;
  },
  tokenizer(src) {
    for (const [pattern, display] of INLINE) {
      const match = pattern.exec(src);
      if (match) return { type: "mathInline", raw: match[0], text: match[1].trim(), display };
    }
  },
  renderer(token) {
    return mathPlaceholder(token.text, token.display);
  },
};

const parser = ready ? new marked.Marked({ gfm: true }, { extensions: [mathBlock, mathInline] }) : null;

const SANITIZE = {
  USE_PROFILES: { html: true }, // no SVG or MathML from the model; KaTeX adds its own later
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "dialog", "template"],
  // No styles (an answer could cover the page), and no ids or names that could shadow the
  // page's own elements.
  FORBID_ATTR: ["style", "id", "name"],
  RETURN_DOM_FRAGMENT: true,
};
const ALLOWED_CLASS = /^(?:language-[\w+#.-]+|math)$/;

if (ready) {
  DOMPurify.addHook("uponSanitizeAttribute", (node, data) => {
    // Keep only the classes marked and the math extension produce, so an answer cannot
    // dress up as the page's own interface.
    if (data.attrName === "class") {
      const kept = data.attrValue.split(/\s+/).filter((name) => ALLOWED_CLASS.test(name));
      if (kept.length) data.attrValue = kept.join(" ");
      else data.keepAttr = false;
    }
  });
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
}

// Highlighted code and typeset math, by source: while an answer streams it is re-rendered
// many times, and only its last block changes.
const cache = new Map();
function cached(key, make) {
  if (cache.has(key)) return cache.get(key);
  const value = make();
  cache.set(key, value);
  if (cache.size > 400) cache.delete(cache.keys().next().value);
  return value;
}

function highlight(code, final) {
  if (typeof hljs === "undefined") return;
  const match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
  const language = match && hljs.getLanguage(match[1]) ? match[1] : null;
  const text = code.textContent;
  let html = null;
  if (language) {
    html = cached(`code\0${language}\0${text}`, () => hljs.highlight(text, { language, ignoreIllegals: true }).value);
  } else if (final && text.length < 20000) {
    // Guessing the language is costly: only once the answer is complete.
    html = cached(`auto\0${text}`, () => hljs.highlightAuto(text).value);
  }
  if (html !== null) code.innerHTML = html; // hljs escapes the text it wraps
  code.classList.add("hljs");
}

function typeset(element) {
  const tex = element.dataset.tex;
  const display = element.dataset.display === "1";
  if (typeof katex === "undefined") {
    element.textContent = tex;
    return;
  }
  // trust: false (the default) keeps \href, \url, \includegraphics and the like inert.
  element.innerHTML = cached(`math\0${display}\0${tex}`, () =>
    katex.renderToString(tex, { displayMode: display, throwOnError: false, trust: false, strict: "ignore" }),
  );
}

function codeBlock(pre, strings) {
  const code = pre.querySelector("code");
  const match = code && /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
  const wrapper = document.createElement("div");
  wrapper.className = "code-block";
  const bar = document.createElement("div");
  bar.className = "code-bar";
  const language = document.createElement("span");
  language.textContent = match ? match[1] : "";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "code-copy";
  copy.textContent = strings.copyCode;
  bar.append(language, copy);
  pre.replaceWith(wrapper);
  wrapper.append(bar, pre);
}

// An image would be fetched as soon as it is shown: from another site, that tells the site
// who reads the answer (and the address can carry data out); from this one, it is a request
// the model chose. So images become links, except inline data: images. The CSP agrees.
function imageToLink(image, strings) {
  const source = image.getAttribute("src") || "";
  if (/^data:image\/(?:png|gif|jpeg|webp);/i.test(source)) return;
  let url = null;
  try {
    url = new URL(source, window.location.href);
  } catch (e) {
    url = null;
  }
  const link = document.createElement("a");
  link.textContent = `[${strings.image}: ${image.getAttribute("alt") || source}]`;
  if (url && (url.protocol === "https:" || url.protocol === "http:")) {
    link.href = url.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  image.replaceWith(link);
}

// One block of Markdown (a paragraph, a list, a table, a code block…) as safe DOM nodes.
function renderBlock(token, final, strings) {
  const fragment = DOMPurify.sanitize(parser.parser([token]), SANITIZE);
  // Still in DOMPurify's inert document: nothing loads until it is inserted.
  for (const image of fragment.querySelectorAll("img")) imageToLink(image, strings);
  for (const code of fragment.querySelectorAll("pre > code")) highlight(code, final);
  for (const pre of fragment.querySelectorAll("pre")) codeBlock(pre, strings);
  for (const math of fragment.querySelectorAll(".math[data-tex]")) typeset(math);
  for (const table of fragment.querySelectorAll("table")) {
    const wrapper = document.createElement("div");
    wrapper.className = "table-wrap";
    table.replaceWith(wrapper);
    wrapper.append(table);
  }
  return [...fragment.childNodes];
}

// What each element shows: its blocks' sources and the nodes they became.
const shown = new WeakMap();

// Renders `text` into `element`. `final`: the answer is complete. Each top-level block is
// sanitized on its own, so an unclosed tag cannot swallow the rest of the answer; blocks
// that did not change since the last render keep their nodes, so while an answer streams
// only its last block is redrawn (no flicker, a selection survives).
export function render(element, text, { final = false, strings = {} } = {}) {
  if (!ready) {
    element.classList.add("plain");
    element.textContent = text;
    return;
  }
  const tokens = parser.lexer(text);
  const links = Object.keys(tokens.links || {}).join("\n");
  let previous = shown.get(element);
  // A new link reference can change any earlier block; the final render guesses languages.
  if (!previous || previous.links !== links || final !== previous.final) {
    element.replaceChildren();
    previous = { blocks: [] };
  }
  let same = 0;
  while (
    same < previous.blocks.length &&
    same < tokens.length &&
    previous.blocks[same].raw === tokens[same].raw
  ) {
    same++;
  }
  for (const block of previous.blocks.slice(same)) {
    for (const node of block.nodes) node.remove();
  }
  const blocks = previous.blocks.slice(0, same);
  for (const token of tokens.slice(same)) {
    const nodes = renderBlock(token, final, strings);
    element.append(...nodes);
    blocks.push({ raw: token.raw, nodes });
  }
  shown.set(element, { blocks, links, final });
}
