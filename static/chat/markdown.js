// Turns an answer's Markdown into safe HTML: marked parses (with $…$ / $$…$$ / \(…\) / \[…\]
// math), DOMPurify sanitizes, then code is highlighted, math typeset by KaTeX, links made to
// open in a new tab and images from other sites turned into links. Model output is untrusted:
// nothing of it reaches the page without passing DOMPurify first, and DOMPurify lets through
// only what Markdown itself makes (an allowlist of tags and attributes, below): no media, no
// frames, no forms (but for the task lists' disabled checkboxes), no styles, no ids. The
// Content-Security-Policy is the second wall, not the first. highlight.js and KaTeX write
// their HTML after the sanitizer, from text only: hljs escapes what it wraps, and KaTeX runs
// untrusted (no \href, \includegraphics or \html…) with bounded sizes and macro expansion;
// the page's CSS keeps whatever a formula draws inside its message. marked, DOMPurify,
// highlight.js and KaTeX are the vendor scripts the page loads before its modules; without
// marked or DOMPurify, answers show as plain text.
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

// What marked (GFM) makes, plus the math extension's placeholders (div and span) and a few
// inline tags models write as HTML. Anything else goes, its text kept: video, audio, source,
// picture, iframe, object, embed, form, button, select, textarea, style, svg, math…
const ALLOWED_TAGS = [
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "br", "pre", "code",
  "ul", "ol", "li", "input", "table", "thead", "tbody", "tr", "th", "td",
  "em", "strong", "del", "a", "img", "div", "span",
  "b", "i", "sub", "sup", "kbd",
];
// No style (an answer could cover the page), no srcset, poster or background (each a request
// to anywhere), no ids or names (they could shadow the page's own elements), no data-* or
// aria-* but the math placeholders' own.
const ALLOWED_ATTR = [
  "href", "title", "src", "alt", "class", "align", "start", "type", "checked", "disabled",
  "data-tex", "data-display",
];
const SANITIZE = {
  ALLOWED_TAGS,
  ALLOWED_ATTR,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
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
    // The one input Markdown makes: a task list's checkbox, which cannot be changed.
    if (node.tagName === "INPUT") {
      if ((node.getAttribute("type") || "").toLowerCase() === "checkbox") node.setAttribute("disabled", "");
      else node.remove();
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

// trust: false keeps \href, \url, \includegraphics, \htmlStyle and the like inert; no size
// (a \rule, a \raisebox, a \kern…) is more than 10em; macros expand at most 1000 times, so
// a formula cannot hang the page either.
const KATEX = { throwOnError: false, trust: false, strict: "ignore", maxSize: 10, maxExpand: 1000 };

function typeset(element) {
  const tex = element.dataset.tex;
  const display = element.dataset.display === "1";
  if (typeof katex === "undefined") {
    element.textContent = tex;
    return;
  }
  element.innerHTML = cached(`math\0${display}\0${tex}`, () =>
    katex.renderToString(tex, { ...KATEX, displayMode: display }),
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
