// What the person typed and has not sent yet, per conversation ("new" for a new chat), kept
// in localStorage so that it survives a reload, a lost session (the log-in page and back) and
// a switch to another conversation, and never follows the person into another one. Free of
// the DOM (tests/js/drafts.test.mjs): `storage` is localStorage, or null when the browser
// refuses it (then drafts live as long as the page).

export class Drafts {
  // `owner`: the person's username, so that two people sharing a browser never see each
  // other's drafts.
  constructor(storage, owner) {
    this.storage = storage;
    this.prefix = `draft:${owner}:`;
    this.memory = new Map();
  }

  key(conversationId) {
    return this.prefix + (conversationId || "new");
  }

  get(conversationId) {
    const key = this.key(conversationId);
    try {
      if (this.storage) return this.storage.getItem(key) || "";
    } catch (e) {
      // Storage refused (private mode, quota): the page's memory.
    }
    return this.memory.get(key) || "";
  }

  // An empty text removes the draft.
  set(conversationId, text) {
    const key = this.key(conversationId);
    if (text) this.memory.set(key, text);
    else this.memory.delete(key);
    try {
      if (!this.storage) return;
      if (text) this.storage.setItem(key, text);
      else this.storage.removeItem(key);
    } catch (e) {
      // Full or refused: the page's memory keeps it.
    }
  }

  clear(conversationId) {
    this.set(conversationId, "");
  }
}
