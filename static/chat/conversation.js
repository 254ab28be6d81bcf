// The open conversation: its messages, the answer being streamed into it, and what the person
// does with them (send, stop, regenerate, edit). The other parts of the page it tells what
// changed through the objects main.js gives it: the sidebar, the settings, the composer.
import { answerStream, json, request } from "./api.js";
import { MessageView, viewOf } from "./answer.js";
import { copyWithFeedback, textForm } from "./dom.js";
import { rate } from "./feedback.js";
import { readEvents } from "./sse.js";
import { followStream, liveAnswer } from "./stream.js";
import { format, length } from "./text.js";

// The conversation a page address shows: /c/<id>/, or null for a new one (/).
export function conversationIdOf(pathname) {
  const match = /^\/c\/(\d+)\/$/.exec(pathname);
  return match ? Number(match[1]) : null;
}

export class ConversationView {
  constructor({ elements, config, notice, scroll, composer, settings, sidebar, budget, tabs, viewer }) {
    this.messages = elements.messages;
    this.welcome = elements.welcome;
    this.titleElement = elements.title;
    this.config = config;
    this.strings = config.strings;
    this.notice = notice;
    this.scroll = scroll;
    this.composer = composer;
    this.settings = settings;
    this.sidebar = sidebar;
    this.budget = budget;
    this.tabs = tabs;
    // Opens a message's image, enlarged, or a document's text (FileViewer, attachments.js).
    this.viewer = viewer;
    // A limit's refusal shown where the answer would have been, and its countdown.
    this.refusal = null;
    // The conversation shown (null: a new one, not created until its first message) and, once
    // loaded, what the server said of it.
    this.id = config.conversation_id;
    this.loaded = null;
    // The answer being streamed into the page: {view, controller, stopRequested}.
    this.live = null;
    // A message being sent whose answer has not started yet (its new conversation is being
    // created): {stopRequested}, a stop asked for meanwhile (Esc right after Enter).
    this.pending = null;

    this.messages.addEventListener("click", (event) => this.clicked(event));
  }

  clicked(event) {
    const codeCopy = event.target.closest(".code-copy");
    if (codeCopy) {
      const code = codeCopy.closest(".code-block").querySelector("pre code, pre");
      copyWithFeedback(codeCopy, code.textContent.replace(/\n$/, ""), this.strings);
      return;
    }
    const file = event.target.closest("[data-action='open-file']");
    if (file) {
      this.viewer.open(file.dataset);
      return;
    }
    const button = event.target.closest("[data-action]");
    const article = button && button.closest(".message");
    const view = article && viewOf(article);
    if (!view) return;
    if (button.dataset.action === "copy") copyWithFeedback(button, view.content, this.strings);
    else if (button.dataset.action === "regenerate") this.regenerate(view);
    else if (button.dataset.action === "edit") this.startEdit(view);
    else if (button.dataset.action === "version-previous") this.showVersion(view.versionAt(-1), "version-previous");
    else if (button.dataset.action === "version-next") this.showVersion(view.versionAt(1), "version-next");
    else if (button.dataset.action === "rate-up") rate(view, "up", { strings: this.strings, notice: this.notice });
    else if (button.dataset.action === "rate-down") rate(view, "down", { strings: this.strings, notice: this.notice });
  }

  get streaming() {
    return Boolean(this.live || this.pending);
  }

  setTitle(title) {
    const text = title || this.strings.newConversation;
    this.titleElement.textContent = text;
    document.title = `${text} · ${this.strings.appName}`;
  }

  // A conversation's title changed (renamed, or named by the model).
  titleChanged(id, title) {
    if (id === this.id) this.setTitle(title);
  }

  addMessage(message) {
    const view = new MessageView(message, {
      strings: this.strings,
      scroll: this.scroll,
      models: this.config.models,
      currency: this.config.currency,
    });
    this.messages.append(view.article);
    this.welcome.hidden = true;
    return view;
  }

  // Only the last answer can be regenerated; editing and regenerating wait for the stream.
  refreshActions() {
    const articles = this.messages.querySelectorAll(".message");
    articles.forEach((article, index) => article.classList.toggle("last", index === articles.length - 1));
  }

  // --- Streaming answers ------------------------------------------------------------------

  handleEvent(view, name, data) {
    if (name === "meta") {
      if (data.assistant_message_id) view.setId(data.assistant_message_id);
      if (data.model) view.model = data.model;
      if (data.user_message_id && view.question) view.question.setId(data.user_message_id);
      // A regenerated answer's versions, or an edited question's (versionsOf: which).
      if (data.versions && view.versionsOf) view.versionsOf.setVersions(data.versions);
      if (data.title) this.sidebar.update({ id: this.id, title: data.title });
      if (this.live && this.live.view === view && this.live.stopRequested) this.stop();
    } else if (name === "delta") {
      view.append(data);
    } else if (name === "title") {
      view.gotTitle = true;
      this.sidebar.update({ id: this.id, title: data.title });
    } else if (name === "done") {
      view.setStatus(data.status || "complete");
      view.setOutcome(data);
    } else if (name === "error") {
      view.setStatus("error", data.message);
      view.setOutcome(data);
    }
  }

  // Streams an answer into `view`. `open(signal)` makes the request that answers with the
  // events; stream.js resumes the stream if it breaks before the answer's end. onOpenError:
  // what to do when that first request fails (nothing was saved then). stopRequested: stop
  // it as soon as its id is known. announce: a new turn, which the page's other tabs are
  // told of (tabs.js), when it starts and when it ends.
  async runAnswer(view, open, { onOpenError, stopRequested = false, announce = true } = {}) {
    const t = this.strings;
    const controller = new AbortController();
    const live = (this.live = { view, controller, stopRequested });
    const conversationId = this.id;
    let started = false;
    this.composer.setStreaming(true);
    this.refreshActions();
    try {
      let response;
      try {
        response = await open(controller.signal);
      } catch (error) {
        if (error.name !== "AbortError" && onOpenError) {
          onOpenError(error);
          return;
        }
        throw error;
      }
      await followStream(response, {
        cursor: view.cursor,
        read: readEvents,
        resume: answerStream,
        signal: controller.signal,
        onEvent: (name, data) => {
          this.handleEvent(view, name, data);
          if (announce && name === "meta" && !started) {
            started = true;
            this.tabs.changed(conversationId, "turn");
          }
        },
        onRetry: () => this.notice.show(t.reconnecting),
        onResumed: () => this.notice.clear(),
      });
    } catch (error) {
      if (error.name === "AbortError") return; // the person left this conversation; it goes on
      if (error.status === -1) {
        view.setStatus("error", t.connectionLost);
        this.notice.show(t.connectionLost);
      } else {
        view.setStatus("error", this.notice.describe(error));
      }
    } finally {
      if (started) this.tabs.changed(conversationId, "ended");
      if (this.live === live) {
        this.live = null;
        this.composer.setStreaming(false);
        view.finish();
        this.refreshActions();
        this.sidebar.refresh(!view.gotTitle);
        if (this.budget) this.budget.refresh();
      }
    }
  }

  follow(view) {
    this.runAnswer(view, (signal) => answerStream(view.id, view.cursor.lastEventId(), signal), { announce: false });
  }

  // Another tab of this browser says conversation `id` changed (tabs.js): the sidebar shows
  // it, and this tab, if it shows that conversation, loads it again to show the new turn and
  // follow its answer. Not while it streams or sends here (the server refuses a second
  // answer: the refusal says so), nor while the person edits a message here.
  changedElsewhere(id, kind) {
    this.sidebar.refresh(false);
    if (kind !== "turn" || id !== this.id || !this.loaded || this.live || this.pending) return;
    if (this.messages.querySelector(".message.editing")) return;
    this.open(id, { push: false });
  }

  // Stops reading the current answer (the server goes on generating it).
  detachLive() {
    if (!this.live) return;
    this.live.controller.abort();
    this.live = null;
    this.composer.setStreaming(false);
  }

  async stop() {
    const live = this.live;
    if (!live) {
      if (this.pending) this.pending.stopRequested = true; // acted on once the answer starts
      return;
    }
    if (!live.view.id) {
      live.stopRequested = true; // sent when the answer's id arrives
      return;
    }
    try {
      await json("POST", `/api/messages/${live.view.id}/stop/`);
    } catch (error) {
      this.notice.failed(error);
    }
  }

  async ensureConversation() {
    if (this.id) return this.id;
    const conversation = await json("POST", "/api/chats/", { model: this.settings.model, ...this.settings.draft });
    this.id = conversation.id;
    this.loaded = conversation;
    history.pushState({}, "", `/c/${conversation.id}/`);
    this.sidebar.added(conversation);
    return conversation.id;
  }

  tooLong(content) {
    if (length(content) <= this.config.max_prompt_chars) return false;
    this.notice.show(format(this.strings.tooLong, { max: this.config.max_prompt_chars }));
    return true;
  }

  // Sends a message, with its `files` (uploaded: attachments.js); false when it could not be
  // sent (nothing was saved).
  async send(content, files = []) {
    if (this.live) return false;
    if (this.tooLong(content)) return false;
    this.notice.clear();
    this.clearRefusal();
    // Stop (Esc) works from now on, while a new conversation is created.
    const pending = (this.pending = { stopRequested: false });
    this.composer.setStreaming(true);
    let conversationId;
    try {
      conversationId = await this.ensureConversation();
    } catch (error) {
      this.composer.setStreaming(false);
      this.notice.failed(error);
      return false;
    } finally {
      this.pending = null;
    }
    const question = this.addMessage({ role: "user", content, attachments: files });
    const answer = this.addMessage({ role: "assistant", status: "streaming" });
    answer.question = question;
    this.scroll.toBottom();
    let sent = true;
    await this.runAnswer(
      answer,
      (signal) =>
        request("POST", `/api/chats/${conversationId}/messages/`, {
          body: { content, model: this.settings.model, attachments: files.map((file) => file.id) },
          signal,
        }),
      {
        onOpenError: (error) => {
          // Refused before anything was saved: give the text back.
          question.article.remove();
          answer.article.remove();
          this.welcome.hidden = this.messages.childElementCount > 0;
          if (error.status === 429 || error.status === 403) this.showRefusal(error);
          else if (error.status === 409) {
            // An answer is being generated here from another device: show it, and say why.
            this.open(conversationId, { push: false }).then(() => this.notice.failed(error));
          } else this.notice.failed(error);
          sent = false;
        },
        stopRequested: pending.stopRequested,
      },
    );
    return sent;
  }

  // A limit or a model not allowed, told where the answer would have been, with a countdown
  // to when the limit frees up.
  showRefusal(error) {
    const t = this.strings;
    this.clearRefusal();
    const box = document.createElement("div");
    box.className = "refusal";
    box.setAttribute("role", "alert");
    const text = document.createElement("p");
    text.textContent = this.notice.describe(error);
    box.append(text);
    const refusal = (this.refusal = { box, timer: null });
    if (error.retryAfter) {
      const wait = document.createElement("p");
      wait.className = "refusal-wait";
      box.append(wait);
      const until = Date.now() + error.retryAfter * 1000;
      const tick = () => {
        const left = Math.ceil((until - Date.now()) / 1000);
        if (left <= 0) {
          wait.textContent = t.retryNow;
          clearInterval(refusal.timer);
          return;
        }
        const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
        wait.textContent = format(t.retryIn, { time: clock });
      };
      tick();
      refusal.timer = setInterval(tick, 1000);
    }
    this.messages.append(box);
    this.welcome.hidden = true;
    this.scroll.toBottom();
  }

  clearRefusal() {
    if (!this.refusal) return;
    clearInterval(this.refusal.timer);
    this.refusal.box.remove();
    this.refusal = null;
  }

  // After a refused regenerate or edit, show what the server has.
  reloadAfter(error) {
    this.open(this.id, { push: false }).then(() => this.notice.failed(error));
  }

  regenerate(view) {
    if (this.live || !view.id) return;
    this.notice.clear();
    const id = view.id;
    view.article.remove();
    const answer = this.addMessage({ role: "assistant", status: "streaming" });
    answer.versionsOf = answer;
    this.scroll.toBottom();
    this.runAnswer(
      answer,
      (signal) => request("POST", `/api/messages/${id}/regenerate/`, { body: { model: this.settings.model }, signal }),
      { onOpenError: (error) => this.reloadAfter(error) },
    );
  }

  startEdit(view) {
    const t = this.strings;
    if (this.live || !view.id || view.article.classList.contains("editing")) return;
    view.article.classList.add("editing");
    const close = () => {
      form.remove();
      view.body.hidden = !view.content && view.files.length > 0; // a question of files alone has no bubble
      view.article.classList.remove("editing");
    };
    const { form, area } = textForm({
      className: "edit-form",
      label: t.edit,
      cancelText: t.cancel,
      submitText: t.send,
      onCancel: close,
    });
    area.value = view.content;
    area.rows = Math.min(12, Math.max(2, view.content.split("\n").length));
    view.body.hidden = true;
    view.article.insertBefore(form, view.statusLine);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const content = area.value;
      if (!content.trim() || this.live) return;
      if (this.tooLong(content)) return;
      close();
      this.resend(view, content);
    });
  }

  // Asks a new version of an earlier message of the person: it and everything after it are
  // kept by the server as its earlier version, and leave the page.
  resend(view, content) {
    this.notice.clear();
    while (view.article.nextElementSibling) view.article.nextElementSibling.remove();
    view.setContent(content);
    const answer = this.addMessage({ role: "assistant", status: "streaming" });
    answer.question = view;
    answer.versionsOf = view;
    this.scroll.toBottom();
    this.runAnswer(
      answer,
      (signal) =>
        request("POST", `/api/messages/${view.id}/edit/`, { body: { content, model: this.settings.model }, signal }),
      { onOpenError: (error) => this.reloadAfter(error) },
    );
  }

  // Shows another version of a message's place: from there on, the conversation is the one
  // that version began (the server answers the conversation as it now reads).
  async showVersion(id, action) {
    if (!id || this.live) return;
    this.notice.clear();
    const shownId = this.id;
    let conversation;
    try {
      conversation = await json("POST", `/api/messages/${id}/show/`);
    } catch (error) {
      this.notice.failed(error);
      return;
    }
    if (this.id !== shownId || this.live) return;
    // Where the person was reading (scroll.js), the page redrawn with the versions chosen.
    this.scroll.keeping(() => {
      this.messages.replaceChildren();
      this.showMessages(conversation);
    });
    // The keyboard stays on the button pressed, as if the page had not been redrawn.
    const chosen = this.messages.querySelector(`.message[data-id="${id}"] [data-action="${action}"]`);
    if (chosen && !chosen.disabled) chosen.focus();
  }

  // --- Opening conversations ----------------------------------------------------------------

  // message: the id of a message to show, marked (a search's hit); when the page opens at an
  // address, its ?m=.
  async open(id, { push = true, message = null } = {}) {
    this.detachLive();
    this.id = id;
    this.composer.showDraft();
    if (!push && message === null) message = Number(new URLSearchParams(window.location.search).get("m")) || null;
    if (push) history.pushState({}, "", message ? `/c/${id}/?m=${message}` : `/c/${id}/`);
    this.sidebar.markCurrent();
    this.sidebar.close();
    this.notice.clear();
    this.messages.replaceChildren();
    this.welcome.hidden = true;
    let conversation;
    try {
      conversation = await json("GET", `/api/chats/${id}/`);
    } catch (error) {
      if (this.id !== id) return;
      if (error.status === 404) {
        this.startNew({ push: false });
        history.replaceState({}, "", "/");
        this.notice.show(this.strings.notFound);
      } else {
        this.notice.failed(error);
      }
      return;
    }
    if (this.id !== id) return; // another conversation was opened meanwhile
    this.setTitle(conversation.title);
    this.settings.show(conversation);
    this.sidebar.shown(conversation);
    const liveView = this.showMessages(conversation);
    this.scroll.toBottom();
    const found = message && this.messages.querySelector(`.message[data-id="${message}"]`);
    if (found) {
      found.classList.add("found");
      this.scroll.toElement(found);
    }
    if (liveView) this.follow(liveView);
  }

  // The conversation's messages, in an empty list; returns the view of its live answer, if any.
  showMessages(conversation) {
    this.loaded = conversation;
    const live = liveAnswer(conversation.messages);
    let liveView = null;
    for (const message of conversation.messages) {
      const view = this.addMessage(message);
      if (message === live) liveView = view;
    }
    this.welcome.hidden = conversation.messages.length > 0;
    this.refreshActions();
    return liveView;
  }

  // An empty page for a new conversation, created on the first message.
  startNew({ push = true } = {}) {
    this.detachLive();
    this.id = null;
    this.loaded = null;
    this.composer.showDraft();
    if (push && window.location.pathname !== "/") history.pushState({}, "", "/");
    this.messages.replaceChildren();
    this.welcome.hidden = false;
    this.setTitle("");
    this.settings.reset();
    this.sidebar.markCurrent();
    this.sidebar.close();
    this.notice.clear();
    this.composer.focus();
  }

  // What the address shows, after the browser's back and forward buttons.
  showLocation() {
    const id = conversationIdOf(window.location.pathname);
    if (id) this.open(id, { push: false });
    else this.startNew({ push: false });
  }
}
