// The full-text search's hits in the sidebar (GET /api/search/, docs/api.md), under the
// conversations whose titles match: each a conversation's title and the snippet of the
// message that has the words, the matches marked. Built as DOM nodes: the text is the
// person's and the model's, never HTML. A click opens the conversation at that message
// (/c/<id>/?m=<message id>).
import { json } from "./api.js";

// The snippet as text with <mark> around each [start, end) range of `highlights`, offsets
// in Unicode characters (code points, as the server counts them; an emoji is two of
// JavaScript's string units).
export function markedText(snippet, highlights) {
  const chars = Array.from(snippet);
  const text = (start, end) => chars.slice(start, end).join("");
  const parts = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at || end <= start) continue;
    if (start > at) parts.push(document.createTextNode(text(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text(start, end);
    parts.push(mark);
    at = end;
  }
  if (at < chars.length) parts.push(document.createTextNode(text(at)));
  return parts;
}

export class SearchHits {
  // hooks: open(conversationId, messageId).
  constructor({ elements, strings, notice, hooks }) {
    this.ui = elements;
    this.strings = strings;
    this.notice = notice;
    this.hooks = hooks;
    this.query = "";
    this.nextPage = null;
    this.seq = 0;
    this.ui.hits.addEventListener("click", (event) => this.clicked(event));
    this.ui.hitsMore.addEventListener("click", () => this.more());
  }

  clear() {
    this.query = "";
    this.seq++;
    this.ui.hitsBox.hidden = true;
    this.ui.hits.replaceChildren();
  }

  async find(query) {
    this.query = query;
    this.ui.hits.replaceChildren();
    await this.load(1);
  }

  async more() {
    if (this.nextPage) await this.load(this.nextPage);
  }

  async load(page) {
    const seq = ++this.seq;
    const query = this.query;
    let data;
    try {
      data = await json("GET", `/api/search/?q=${encodeURIComponent(query)}&page=${page}`);
    } catch (error) {
      // A query the server refuses (too long, too many words) says why, in place.
      if (seq !== this.seq) return;
      if (error.status === 400) this.show([], null, error.message);
      else this.notice.failed(error);
      return;
    }
    if (seq !== this.seq || query !== this.query) return;
    // Title hits are listed above already, by the title filter.
    this.show(
      data.results.filter((hit) => hit.message_id !== null),
      data.next_page,
    );
  }

  show(hits, nextPage, message) {
    this.nextPage = nextPage;
    this.ui.hits.append(...hits.map((hit) => this.item(hit)));
    const none = !this.ui.hits.childElementCount;
    this.ui.hitsEmpty.textContent = message || this.strings.noMessagesFound;
    this.ui.hitsEmpty.hidden = !none || (!message && Boolean(nextPage));
    this.ui.hitsMore.hidden = !nextPage;
    this.ui.hitsBox.hidden = false;
  }

  item(hit) {
    const link = document.createElement("a");
    link.className = "hit";
    link.href = `/c/${hit.conversation_id}/?m=${hit.message_id}`;
    link.dataset.conversation = hit.conversation_id;
    link.dataset.message = hit.message_id;
    const title = document.createElement("span");
    title.className = "hit-title";
    title.textContent = hit.title || this.strings.newConversation;
    if (hit.archived) {
      const badge = document.createElement("span");
      badge.className = "hit-badge";
      badge.textContent = this.strings.archived;
      title.append(" ", badge);
    }
    const snippet = document.createElement("span");
    snippet.className = "hit-snippet";
    snippet.append(...markedText(hit.snippet, hit.highlights));
    link.append(title, snippet);
    return link;
  }

  clicked(event) {
    const link = event.target.closest(".hit");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    this.hooks.open(Number(link.dataset.conversation), Number(link.dataset.message));
  }
}
