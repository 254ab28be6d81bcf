// The sidebar's list of conversations as data, free of the DOM (tests/js/listing.test.mjs):
// the conversations loaded page by page, newest first, and those the server found for a
// search, which may not be loaded yet.

export class Listing {
  constructor() {
    this.loaded = [];
    this.nextPage = null;
    this.morePagesLoaded = false;
    this.query = "";
    this.found = null;
  }

  find(id) {
    return this.loaded.find((item) => item.id === id) || (this.found || []).find((item) => item.id === id);
  }

  // Applies changed fields of a conversation wherever it is listed.
  update(changed) {
    for (const list of [this.loaded, this.found || []]) {
      const item = list.find((entry) => entry.id === changed.id);
      if (item) Object.assign(item, changed);
    }
  }

  // The first page, fetched again: it comes first, the later pages already loaded stay.
  setFirstPage(data) {
    const ids = new Set(data.results.map((item) => item.id));
    this.loaded = data.results.concat(this.loaded.filter((item) => !ids.has(item.id)));
    if (!this.morePagesLoaded) this.nextPage = data.next_page;
  }

  addPage(data) {
    const ids = new Set(this.loaded.map((item) => item.id));
    this.loaded.push(...data.results.filter((item) => !ids.has(item.id)));
    // A conversation included from further down (include) goes back to its place.
    this.loaded.sort(newestFirst);
    this.nextPage = data.next_page;
    this.morePagesLoaded = true;
  }

  // A conversation opened that is not loaded yet (opened by its address, from further down
  // than the pages loaded), at its place among those loaded; false when it was there.
  include(conversation) {
    if (this.loaded.some((item) => item.id === conversation.id)) return false;
    const { id, title, model, created_at, updated_at, pinned, archived, api_token } = conversation;
    const item = { id, title, model, created_at, updated_at, pinned, archived, api_token };
    const at = this.loaded.findIndex((other) => newestFirst(item, other) < 0);
    this.loaded.splice(at === -1 ? this.loaded.length : at, 0, item);
    return true;
  }

  // After a conversation was pinned or unpinned.
  resort() {
    this.loaded.sort(newestFirst);
  }

  addNew(conversation) {
    this.loaded.unshift(conversation);
  }

  remove(id) {
    this.loaded = this.loaded.filter((item) => item.id !== id);
    if (this.found) this.found = this.found.filter((item) => item.id !== id);
  }

  searching() {
    return this.query.trim();
  }

  // What the sidebar shows: everything loaded or, during a search, the conversations loaded
  // or found whose title (`untitled` for those without one) has the words, newest first.
  visible(untitled) {
    const query = this.query.trim().toLowerCase();
    if (!query) return this.loaded;
    const seen = new Set();
    const shown = [];
    for (const item of this.loaded.concat(this.found || [])) {
      if (seen.has(item.id) || !(item.title || untitled).toLowerCase().includes(query)) continue;
      seen.add(item.id);
      shown.push(item);
    }
    return shown.sort(newestFirst);
  }
}

// The server's order of conversations: pinned first, then the most recently changed, then
// the newest.
export function newestFirst(a, b) {
  if (Boolean(a.pinned) !== Boolean(b.pinned)) return a.pinned ? -1 : 1;
  return a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : b.id - a.id;
}

// The heading a conversation last changed at `isoDate` is listed under, in local time.
export function groupOf(isoDate, now = new Date()) {
  const day = 24 * 60 * 60 * 1000;
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const time = new Date(isoDate).getTime();
  if (time >= today) return "today";
  if (time >= today - day) return "yesterday";
  if (time >= today - 7 * day) return "previous7";
  if (time >= today - 30 * day) return "previous30";
  return "older";
}
