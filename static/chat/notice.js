// The notice above the composer: what went wrong, in the person's words. The page never
// fails silently: an uncaught error or a lost network says so here too.
import { ApiError } from "./api.js";

export class Notice {
  constructor(element, { strings, loginUrl }) {
    this.element = element;
    this.strings = strings;
    this.loginUrl = loginUrl;
  }

  show(text) {
    this.element.textContent = text || "";
    this.element.hidden = !text;
  }

  clear() {
    this.show("");
  }

  get text() {
    return this.element.textContent;
  }

  // The words for a failed request. A lost session goes back to the log-in page.
  describe(error) {
    const t = this.strings;
    if (error instanceof ApiError) {
      if (error.status === 401) {
        window.location.href = `${this.loginUrl}?next=${encodeURIComponent(window.location.pathname)}`;
      }
      if (error.status === 0) return t.networkError;
      if (error.status === 404) return t.notFound;
      if (error.status >= 500) return t.serverError;
      return error.message || t.error;
    }
    return t.error;
  }

  failed(error) {
    this.show(this.describe(error));
  }

  // Uncaught errors, and going offline and back.
  watch(window) {
    const t = this.strings;
    window.addEventListener("error", () => this.show(t.pageError));
    window.addEventListener("unhandledrejection", (event) => {
      if (event.reason && event.reason.name === "AbortError") return;
      this.show(t.pageError);
    });
    window.addEventListener("offline", () => this.show(t.offline));
    window.addEventListener("online", () => {
      if (this.text === t.offline) this.clear();
    });
  }
}
