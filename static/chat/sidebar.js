// The sidebar: the person's conversations grouped by when they last changed, the search, and
// renaming and deleting; on a phone it slides over the conversation. What it lists is the
// Listing's (listing.js); what the rest of the page does on a click, main.js says (`hooks`).
import { json } from "./api.js";
import { confirmDialog, iconButton } from "./dom.js";
import { Listing, groupOf } from "./listing.js";
import { format } from "./text.js";

export class Sidebar {
  // hooks: currentId() the open conversation's id; isShown(id) whether it is open and loaded;
  // open(id); deleted(id); titleChanged(id, title).
  // hits: the full-text search's (hits.js), shown under the titles found.
  constructor({ elements, strings, notice, hits, hooks }) {
    this.ui = elements;
    this.hits = hits;
    this.strings = strings;
    this.notice = notice;
    this.hooks = hooks;
    this.listing = new Listing();
    // The archived conversations, while the sidebar shows them (GET /api/chats/?archived=1).
    this.archive = null;
    this.renaming = null;
    this.searchTimer = 0;
    this.searchSeq = 0;
    this.hitsTimer = 0;

    const ui = elements;
    ui.conversations.addEventListener("click", (event) => this.clicked(event));
    ui.conversations.addEventListener("keydown", (event) => this.keyed(event));
    ui.search.addEventListener("input", () => this.search());
    ui.loadMore.addEventListener("click", () => this.loadMore());
    ui.archivedToggle.addEventListener("click", () => this.showArchive(!this.archive));
    // The next page as the person scrolls near the end of the list (the button stays, for a
    // list too short to scroll and for keyboards).
    const list = ui.conversations.parentElement;
    list.addEventListener(
      "scroll",
      () => {
        const nearEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 200;
        if (nearEnd && !ui.loadMore.hidden && !ui.loadMore.disabled) this.loadMore();
      },
      { passive: true },
    );
    ui.openSidebar.addEventListener("click", () => this.open());
    ui.closeSidebar.addEventListener("click", () => this.close());
    ui.backdrop.addEventListener("click", () => this.close());
  }

  untitled(conversation) {
    return conversation.title || this.strings.newConversation;
  }

  // Applies changed fields of a conversation everywhere it shows.
  update(changed) {
    if (!changed.id) return;
    this.listing.update(changed);
    if ("title" in changed) this.hooks.titleChanged(changed.id, changed.title);
    this.render();
  }

  added(conversation) {
    this.listing.addNew(conversation);
    this.render();
  }

  // The conversation opened, loaded: listed (and so highlighted) even when it is further down
  // than the pages loaded, as when it is opened by its address.
  shown(conversation) {
    if (!conversation.archived && this.listing.include(conversation)) this.render();
  }

  async load() {
    const data = await json("GET", "/api/chats/");
    this.listing.setFirstPage(data);
    const current = data.results.find((item) => item.id === this.hooks.currentId());
    if (current) this.hooks.titleChanged(current.id, current.title);
    this.render();
  }

  // After an answer: the conversation moved to the top and may have a new title, which the
  // server may name a moment later, or later still on a busy morning (titles wait their turn).
  refresh(titleMayFollow) {
    this.load().catch(() => {});
    if (!titleMayFollow) return;
    for (const delay of [3000, 15000]) setTimeout(() => this.load().catch(() => {}), delay);
  }

  // The list the sidebar shows: the conversations, or the archived ones.
  get inView() {
    return this.archive || this.listing;
  }

  async showArchive(open) {
    this.archive = open ? new Listing() : null;
    this.ui.archivedToggle.textContent = open ? this.strings.backToConversations : this.strings.archived;
    this.ui.archivedToggle.setAttribute("aria-pressed", String(open));
    this.ui.search.disabled = open;
    this.render();
    if (!open) return;
    try {
      this.archive.setFirstPage(await json("GET", "/api/chats/?archived=1"));
      this.render();
    } catch (error) {
      this.notice.failed(error);
    }
  }

  async loadMore() {
    const listing = this.inView;
    if (!listing.nextPage) return;
    this.ui.loadMore.disabled = true;
    const archived = listing === this.archive ? "&archived=1" : "";
    try {
      listing.addPage(await json("GET", `/api/chats/?page=${listing.nextPage}${archived}`));
      this.render();
    } catch (error) {
      this.notice.failed(error);
    } finally {
      this.ui.loadMore.disabled = false;
    }
  }

  item(conversation) {
    const t = this.strings;
    const item = document.createElement("div");
    item.className = "chat-item";
    item.dataset.id = conversation.id;
    const link = document.createElement("a");
    link.className = "chat-link";
    link.href = `/c/${conversation.id}/`;
    link.textContent = this.untitled(conversation);
    link.title = this.untitled(conversation);
    if (conversation.api_token) {
      // Held through the OpenAI-compatible API: which token, on hover.
      const badge = document.createElement("span");
      badge.className = "api-badge";
      badge.textContent = "API";
      badge.title = format(t.viaToken, { name: conversation.api_token });
      link.prepend(badge);
      link.title = `${badge.title} · ${link.title}`;
    }
    if (conversation.id === this.hooks.currentId()) link.setAttribute("aria-current", "page");
    const actions = document.createElement("span");
    actions.className = "chat-actions";
    if (conversation.archived) {
      actions.append(iconButton("unarchive", t.unarchive, "unarchive"));
    } else {
      const pin = iconButton("pin", conversation.pinned ? t.unpin : t.pin, "pin");
      pin.setAttribute("aria-pressed", String(Boolean(conversation.pinned)));
      actions.append(pin, iconButton("edit", t.rename, "rename"), iconButton("archive-box", t.archive, "archive"));
    }
    actions.append(iconButton("trash", t.delete, "delete"));
    // One Tab stop a conversation, its link: its buttons are a Right arrow away (keyed).
    for (const button of actions.children) button.tabIndex = -1;
    item.append(link, actions);
    return item;
  }

  render() {
    if (this.renaming) return; // redrawn when the renaming ends
    const t = this.strings;
    const listing = this.inView;
    const shown = listing.visible(t.newConversation);
    const items = [];
    let group = null;
    if (this.archive) {
      group = "archived";
      const heading = document.createElement("h2");
      heading.className = "chat-group";
      heading.textContent = t.archived;
      items.push(heading);
    }
    for (const conversation of shown) {
      const next = this.archive ? "archived" : conversation.pinned ? "pinned" : groupOf(conversation.updated_at);
      if (next !== group) {
        group = next;
        const heading = document.createElement("h2");
        heading.className = "chat-group";
        heading.textContent = t[group];
        items.push(heading);
      }
      items.push(this.item(conversation));
    }
    const searching = Boolean(listing.searching());
    this.ui.conversations.replaceChildren(...items);
    this.ui.conversationsEmpty.textContent = this.archive ? t.noArchived : searching ? t.noResults : t.noConversations;
    this.ui.conversationsEmpty.hidden = shown.length > 0;
    this.ui.loadMore.hidden = !listing.nextPage || searching;
  }

  markCurrent() {
    const current = this.hooks.currentId();
    for (const link of this.ui.conversations.querySelectorAll(".chat-link")) {
      if (Number(link.parentElement.dataset.id) === current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  search() {
    const listing = this.listing;
    listing.query = this.ui.search.value;
    this.render(); // the conversations already loaded, at once
    clearTimeout(this.searchTimer);
    const query = listing.searching();
    if (!query) {
      listing.found = null;
      this.hits.clear();
      return;
    }
    // Then the server's answer, for conversations not loaded yet.
    this.searchTimer = setTimeout(async () => {
      const seq = ++this.searchSeq;
      try {
        const data = await json("GET", `/api/chats/?q=${encodeURIComponent(query)}`);
        if (seq !== this.searchSeq || query !== listing.searching()) return;
        listing.found = data.results;
        this.render();
      } catch (error) {
        this.notice.failed(error);
      }
    }, 250);
    // And what was said in them, a little later: a search of every message costs more.
    clearTimeout(this.hitsTimer);
    this.hitsTimer = setTimeout(() => {
      if (query === listing.searching()) this.hits.find(query);
    }, 400);
  }

  // Ctrl+K: the search box, on a phone with the sidebar slid in.
  focusSearch() {
    this.open();
    this.ui.search.focus();
    this.ui.search.select();
  }

  startRename(item) {
    const id = Number(item.dataset.id);
    const conversation = this.inView.find(id);
    if (!conversation || this.renaming) return;
    this.renaming = id;
    const link = item.querySelector(".chat-link");
    const input = document.createElement("input");
    input.className = "rename-input";
    input.value = conversation.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", this.strings.rename);
    link.hidden = true;
    item.insertBefore(input, link);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (save && title && title !== conversation.title) {
        link.textContent = title;
        try {
          const updated = await json("PATCH", `/api/chats/${id}/`, { title });
          this.renaming = null;
          this.update({ id, title: updated.title });
          return;
        } catch (error) {
          this.notice.failed(error);
        }
      }
      this.renaming = null;
      this.render();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  // Pinned or archived (PATCH /api/chats/<id>/): moved to where it now belongs.
  async change(id, fields) {
    let updated;
    try {
      updated = await json("PATCH", `/api/chats/${id}/`, fields);
    } catch (error) {
      this.notice.failed(error);
      return;
    }
    const { messages, model_offered, ...conversation } = updated; // eslint-disable-line no-unused-vars
    if ("archived" in fields) {
      this.inView.remove(id);
      this.listing.remove(id);
      if (!conversation.archived) this.listing.include(conversation);
    } else {
      this.listing.update(conversation);
      this.listing.resort();
    }
    this.render();
  }

  async delete(id) {
    const conversation = this.inView.find(id);
    if (!conversation) return;
    const question = format(this.strings.deleteConfirm, { title: this.untitled(conversation) });
    if (!(await confirmDialog(this.ui.confirmDialog, this.ui.confirmText, question))) return;
    try {
      await json("DELETE", `/api/chats/${id}/`);
    } catch (error) {
      if (error.status !== 404) {
        this.notice.failed(error);
        return;
      }
    }
    this.inView.remove(id);
    this.listing.remove(id);
    this.render();
    this.hooks.deleted(id);
  }

  // The keyboard in the list: Up and Down (Home, End) move between conversations, Right and
  // Left between a conversation's link and its buttons.
  keyed(event) {
    const item = event.target.closest(".chat-item");
    if (!item || event.altKey || event.ctrlKey || event.metaKey || event.target.matches("input")) return;
    const row = [item.querySelector(".chat-link"), ...item.querySelectorAll(".chat-actions button")];
    const links = [...this.ui.conversations.querySelectorAll(".chat-link")];
    const link = links.indexOf(row[0]);
    const at = row.indexOf(event.target);
    const target = {
      ArrowDown: links[link + 1],
      ArrowUp: links[link - 1],
      Home: links[0],
      End: links[links.length - 1],
      ArrowRight: row[at + 1],
      ArrowLeft: row[at - 1],
    }[event.key];
    if (!target) return;
    event.preventDefault();
    target.focus();
  }

  clicked(event) {
    const item = event.target.closest(".chat-item");
    if (!item) return;
    const action = event.target.closest("[data-action]");
    const id = Number(item.dataset.id);
    if (action && action.dataset.action === "rename") this.startRename(item);
    else if (action && action.dataset.action === "delete") this.delete(id);
    else if (action && action.dataset.action === "pin") this.change(id, { pinned: !this.inView.find(id).pinned });
    else if (action && action.dataset.action === "archive") this.change(id, { archived: true });
    else if (action && action.dataset.action === "unarchive") this.change(id, { archived: false });
    else if (event.target.closest(".chat-link")) {
      // A plain click opens it in place; with a modifier key the browser opens a tab.
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      const id = Number(item.dataset.id);
      if (this.hooks.isShown(id)) this.close();
      else this.hooks.open(id);
    }
  }

  // --- Phone layout: the sidebar slides over the conversation -------------------------------

  get isOpen() {
    return document.body.classList.contains("sidebar-open");
  }

  open() {
    document.body.classList.add("sidebar-open");
    this.ui.backdrop.hidden = false;
    this.ui.openSidebar.setAttribute("aria-expanded", "true");
  }

  close() {
    if (!this.isOpen) return;
    document.body.classList.remove("sidebar-open");
    this.ui.backdrop.hidden = true;
    this.ui.openSidebar.setAttribute("aria-expanded", "false");
  }
}
