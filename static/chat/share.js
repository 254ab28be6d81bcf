// A conversation's share link, in its settings panel (POST, GET, DELETE
// /api/chats/<id>/share/): made or moved on to the conversation as it is now, copied, stopped.
import { ApiError, json } from "./api.js";

export class ShareBox {
  constructor({ elements, strings, notice }) {
    this.ui = elements;
    this.strings = strings;
    this.notice = notice;
    this.id = null;
    this.loadedFor = null;
    elements.shareMake.addEventListener("click", () => this.make());
    elements.shareStop.addEventListener("click", () => this.stop());
    elements.shareCopy.addEventListener("click", () => this.copy());
  }

  // The conversation `id` (null: a new one, which has nothing to share yet); `load`: the panel
  // is open, so its link is read now rather than when it next opens.
  async show(id, { load }) {
    this.ui.shareBox.hidden = !id;
    if (id !== this.id) this.loadedFor = null;
    this.id = id;
    if (!id || !load || this.loadedFor === id) return;
    this.loadedFor = id;
    this.render(null);
    try {
      this.render(await json("GET", `/api/chats/${id}/share/`));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) this.notice.failed(error);
    }
  }

  render(share) {
    this.ui.shareShared.hidden = !share;
    this.ui.shareUrl.value = share ? share.url : "";
    this.ui.shareAuthor.checked = Boolean(share && share.shows_author);
    this.ui.shareMake.textContent = share ? this.strings.shareAgain : this.strings.share;
  }

  async copy() {
    const ui = this.ui;
    ui.shareUrl.select(); // to copy by hand where the clipboard is refused (plain HTTP)
    let copied = false;
    try {
      await navigator.clipboard.writeText(ui.shareUrl.value);
      copied = true;
    } catch {
      copied = false;
    }
    ui.shareCopy.textContent = copied ? this.strings.copied : this.strings.copyFailed;
    setTimeout(() => (ui.shareCopy.textContent = this.strings.copyLink), 1500);
  }

  async make() {
    const id = this.id;
    try {
      const share = await json("POST", `/api/chats/${id}/share/`, { shows_author: this.ui.shareAuthor.checked });
      if (id === this.id) this.render(share);
    } catch (error) {
      this.notice.failed(error);
    }
  }

  async stop() {
    const id = this.id;
    try {
      await json("DELETE", `/api/chats/${id}/share/`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        this.notice.failed(error);
        return;
      }
    }
    if (id === this.id) this.render(null);
  }
}
