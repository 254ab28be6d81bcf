// One message in the page: the person's question as text, or an answer rendered from its
// Markdown (markdown.js) with its thoughts, status line and actions. An answer may grow while
// its stream comes in; it is redrawn at most once a frame.
import { filesOfMessage } from "./attachments.js";
import { iconButton } from "./dom.js";
import { answerFacts } from "./facts.js";
import { render as renderMarkdown } from "./markdown.js";
import { offerOf } from "./settings.js";
import { Cursor, isLive } from "./stream.js";
import { format, mayBeTall } from "./text.js";

const views = new WeakMap(); // article -> MessageView

// The view of a message's <article>, for the clicks on its buttons.
export function viewOf(article) {
  return views.get(article);
}

export class MessageView {
  // `message` as the API gives it (docs/api.md), or the start of a new one; `scroll` keeps the
  // view at the end while an answer grows (scroll.js). `models` and `currency`: the models
  // offered (config.models, with their prices) and their prices' currency, for what an
  // answer cost.
  constructor(message, { strings, scroll, models = [], currency = "" }) {
    this.strings = strings;
    this.scroll = scroll;
    this.models = models;
    this.currency = currency;
    this.role = message.role;
    this.model = message.model || "";
    // The person's rating of an answer ({rating, note}, or null) and the form of its note.
    this.feedback = message.feedback || null;
    this.noteForm = null;
    this.content = message.content || "";
    this.reasoning = message.reasoning || "";
    // An answer's place in its stream, to resume it after.
    this.cursor = this.role === "assistant" ? new Cursor(message) : null;
    // The question an answer answers, while the server has yet to give it its id.
    this.question = null;
    this.gotTitle = false;
    this.finished = !isLive(message.status);
    this.renderPending = false;
    this.nextRenderAt = 0;
    this.reasoningTouched = false;

    const t = strings;
    const article = (this.article = document.createElement("article"));
    article.className = `message ${this.role}`;
    views.set(article, this);

    if (this.role === "assistant") {
      this.reasoningBox = document.createElement("details");
      this.reasoningBox.className = "reasoning";
      this.reasoningSummary = document.createElement("summary");
      this.reasoningText = document.createElement("div");
      this.reasoningText.className = "reasoning-text";
      this.reasoningBox.append(this.reasoningSummary, this.reasoningText);
      this.reasoningBox.addEventListener("toggle", () => {
        if (this.reasoningBox.dataset.auto !== "1") this.reasoningTouched = true;
        delete this.reasoningBox.dataset.auto;
      });
      article.append(this.reasoningBox);
    }
    this.body = document.createElement("div");
    this.body.className = this.role === "assistant" ? "content markdown" : "content bubble";
    this.statusLine = document.createElement("p");
    this.statusLine.className = "status";
    this.actions = document.createElement("div");
    this.actions.className = "message-actions";
    this.copyButton = iconButton("copy", t.copy, "copy");
    this.actions.append(this.copyButton);
    if (this.role === "user") this.actions.append(iconButton("edit", t.edit, "edit"));
    else {
      this.actions.append(iconButton("refresh", t.regenerate, "regenerate"));
      this.rateUp = iconButton("thumb-up", t.rateUp, "rate-up");
      this.rateDown = iconButton("thumb-down", t.rateDown, "rate-down");
      this.facts = document.createElement("span");
      this.facts.className = "answer-facts";
      this.facts.title = t.factsTitle;
      this.actions.append(this.rateUp, this.rateDown, this.facts);
      this.setFeedback(this.feedback);
      this.setOutcome(message);
    }
    // Its place's versions (regenerated answers, edited questions): "< 2/3 >" to switch.
    this.versions = [];
    this.versionPager = document.createElement("span");
    this.versionPager.className = "versions";
    this.versionPager.hidden = true;
    this.versionCount = document.createElement("span");
    this.versionCount.className = "version-count";
    this.versionPager.append(
      iconButton("previous", t.previousVersion, "version-previous"),
      this.versionCount,
      iconButton("next", t.nextVersion, "version-next"),
    );
    this.actions.prepend(this.versionPager);
    // Under a long message of the person, folded (fold): shows the rest, and folds it again.
    this.expanded = false;
    this.foldToggle = null;
    // The files sent with a question, above its text (attachments.js).
    this.files = message.attachments || [];
    if (this.files.length) article.append(filesOfMessage(this.files, t));
    article.append(this.body, this.statusLine, this.actions);

    this.setId(message.id);
    this.setVersions(message.versions || []);
    this.setStatus(message.status || "complete", message.error);
    this.render(this.finished);
  }

  // The ids of its place's versions, in order (its own among them); one or none: no pager.
  setVersions(ids) {
    this.versions = ids;
    const index = ids.indexOf(this.id);
    this.versionPager.hidden = ids.length < 2 || index < 0;
    if (this.versionPager.hidden) return;
    this.versionCount.textContent = format(this.strings.versionOf, { index: index + 1, count: ids.length });
    const [previous, next] = this.versionPager.querySelectorAll("button");
    previous.disabled = index === 0;
    next.disabled = index === ids.length - 1;
  }

  // The id of the version `step` (-1, +1) away from this one, or null.
  versionAt(step) {
    const index = this.versions.indexOf(this.id) + step;
    return index >= 0 && index < this.versions.length ? this.versions[index] : null;
  }

  setId(id) {
    this.id = id || null;
    this.article.dataset.id = id || "";
  }

  setStatus(status, error) {
    const t = this.strings;
    this.status = status;
    this.article.dataset.status = status;
    this.article.setAttribute("aria-busy", isLive(status) ? "true" : "false");
    const words = { stopped: t.stopped, interrupted: t.interrupted, error: error || t.error };
    this.statusLine.textContent = words[status] || "";
    this.statusLine.hidden = !words[status];
    const retry = status === "error" || status === "interrupted";
    const button = this.actions.querySelector('[data-action="regenerate"]');
    if (button) {
      button.setAttribute("aria-label", retry ? t.retry : t.regenerate);
      button.title = retry ? t.retry : t.regenerate;
    }
  }

  setFeedback(feedback) {
    this.feedback = feedback || null;
    const rating = this.feedback && this.feedback.rating;
    this.rateUp.setAttribute("aria-pressed", String(rating === "up"));
    this.rateDown.setAttribute("aria-pressed", String(rating === "down"));
  }

  // How the answer came out (a message of the API, or its stream's `done` or `error` event):
  // its tokens, times and cost, told in its action row (facts.js).
  setOutcome(outcome) {
    const offer = offerOf(this.models, this.model);
    const locale = document.documentElement.lang || undefined;
    this.facts.textContent = answerFacts(outcome, offer, { strings: this.strings, currency: this.currency, locale });
  }

  append(delta) {
    if (delta.content) this.content += delta.content;
    if (delta.reasoning) this.reasoning += delta.reasoning;
    this.scheduleRender();
  }

  setContent(text) {
    this.content = text;
    this.render(true);
  }

  // At most one render per animation frame, and less often when rendering is slow (a very
  // long answer), so the page stays responsive while tokens pour in.
  scheduleRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    const run = () => {
      this.renderPending = false;
      if (this.finished || !this.article.isConnected) return;
      const started = performance.now();
      this.scroll.keeping(() => this.render(false));
      const took = performance.now() - started;
      this.nextRenderAt = performance.now() + Math.min(took * 3, 400);
    };
    const wait = this.nextRenderAt - performance.now();
    if (wait > 0) setTimeout(() => requestAnimationFrame(run), wait);
    else requestAnimationFrame(run);
  }

  finish() {
    this.finished = true;
    this.scroll.keeping(() => this.render(true));
  }

  // Folds a long message of the person to a few hundred pixels: a 28,000-character message
  // would otherwise be a bubble 10,000 pixels tall. Only messages that may be that tall are
  // measured, once they are in the page; those that fit unfold again at once.
  fold() {
    const folds = mayBeTall(this.content) && !this.expanded;
    this.body.classList.toggle("folded", folds);
    this.showFoldToggle(mayBeTall(this.content));
    if (!folds) return;
    requestAnimationFrame(() => {
      if (!this.body.isConnected || !this.body.classList.contains("folded")) return;
      if (this.body.scrollHeight <= this.body.clientHeight + 2) {
        this.body.classList.remove("folded");
        this.showFoldToggle(false);
      }
    });
  }

  showFoldToggle(on) {
    const t = this.strings;
    if (!on) {
      if (this.foldToggle) this.foldToggle.remove();
      this.foldToggle = null;
      return;
    }
    if (!this.foldToggle) {
      this.foldToggle = document.createElement("button");
      this.foldToggle.type = "button";
      this.foldToggle.className = "show-more";
      this.foldToggle.addEventListener("click", () => this.toggleFold());
      this.body.after(this.foldToggle);
    }
    this.foldToggle.textContent = this.expanded ? t.showLess : t.showMore;
    this.foldToggle.setAttribute("aria-expanded", String(this.expanded));
  }

  toggleFold() {
    this.expanded = !this.expanded;
    this.body.classList.toggle("folded", !this.expanded);
    this.showFoldToggle(true);
    // Folded again: back to the message, not somewhere in what followed it.
    if (!this.expanded) this.article.scrollIntoView({ block: "nearest" });
  }

  render(final) {
    const t = this.strings;
    if (this.role === "user") {
      this.body.textContent = this.content;
      // A question of files alone shows no empty bubble.
      this.body.hidden = !this.content && this.files.length > 0 && !this.article.classList.contains("editing");
      this.fold();
      return;
    }
    const thinking = !final && !this.content;
    // An answer that failed or was stopped before any text has nothing to copy.
    this.copyButton.hidden = !this.content;
    this.reasoningBox.hidden = !this.reasoning;
    this.reasoningSummary.textContent = thinking ? t.thinking : t.reasoning;
    this.reasoningText.textContent = this.reasoning;
    // Open while the model thinks, closed once the answer starts, unless the person chose.
    if (!this.reasoningTouched && this.reasoning && this.reasoningBox.open !== thinking) {
      this.reasoningBox.dataset.auto = "1";
      this.reasoningBox.open = thinking;
    }
    renderMarkdown(this.body, this.content, { final, strings: t });
  }
}
