// The chat page: the sidebar of conversations, the open conversation, and the composer.
// It speaks the same HTTP API as scripts do (docs/api.md, through api.js). Everything that
// came from the server or the model is put in the page as text, or as Markdown made safe by
// markdown.js: never as HTML of its own.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const t = config.strings;
  const { ApiError, request, json, readEvents } = window.ChatAPI;
  const SVG = "http://www.w3.org/2000/svg";

  document.getElementById("boot-message").remove();

  // The page's elements, looked up once.
  const ui = {};
  for (const id of [
    "sidebar", "new-chat", "new-chat-header", "close-sidebar", "open-sidebar", "backdrop", "search",
    "conversations", "conversations-empty", "load-more", "shortcuts-button", "chat-title", "model",
    "demo-badge", "settings-toggle", "settings", "settings-form", "system-prompt", "settings-status",
    "settings-close", "scroller", "welcome", "messages", "jump", "notice", "composer", "prompt", "send",
    "stop", "confirm-dialog", "confirm-text", "shortcuts-dialog",
  ]) {
    ui[id.replace(/-(\w)/g, (_, letter) => letter.toUpperCase())] = document.getElementById(id);
  }

  const state = {
    chatId: config.conversation_id,
    chat: null,
    // The sidebar: conversations loaded page by page, and those the server found for a search.
    chats: [],
    nextPage: null,
    morePagesLoaded: false,
    query: "",
    found: null,
    searchTimer: 0,
    searchSeq: 0,
    renaming: null,
    // The answer being streamed into the page: {view, controller, stopRequested}.
    live: null,
    // Whether the view follows the end of the conversation (the person has not scrolled up).
    stick: true,
    // A new conversation's system prompt, kept until the conversation is created.
    draftSystemPrompt: "",
  };

  // --- Small helpers ------------------------------------------------------------------------

  function format(text, values) {
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  // Lengths as the server counts them (code points), for ids and limits.
  function length(text) {
    let count = 0;
    for (const _ of text) count++; // eslint-disable-line no-unused-vars
    return count;
  }

  function icon(name) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS(SVG, "use");
    use.setAttribute("href", `#i-${name}`);
    svg.append(use);
    return svg;
  }

  function iconButton(name, label, action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "icon-button";
    button.dataset.action = action;
    button.setAttribute("aria-label", label);
    button.title = label;
    button.append(icon(name));
    return button;
  }

  function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("Aborted", "AbortError"));
      });
    });
  }

  function notice(text) {
    ui.notice.textContent = text || "";
    ui.notice.hidden = !text;
  }

  // The words to show for a failed request. A lost session goes back to the log-in page.
  function describe(error) {
    if (error instanceof ApiError) {
      if (error.status === 401) {
        window.location.href = `${config.login_url}?next=${encodeURIComponent(window.location.pathname)}`;
      }
      if (error.status === 0) return t.networkError;
      if (error.status === 404) return t.notFound;
      if (error.status >= 500) return t.serverError;
      return error.message || t.error;
    }
    return t.error;
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        // Fall back to the old way below.
      }
    }
    // Plain http on a server's address is not a secure context: no Clipboard API there.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (e) {
      copied = false;
    }
    area.remove();
    return copied;
  }

  async function copyWithFeedback(button, text) {
    const copied = await copyText(text);
    const label = copied ? t.copied : t.copyFailed;
    button.classList.add("done");
    if (button.classList.contains("code-copy")) button.textContent = label;
    else {
      button.setAttribute("aria-label", label);
      button.title = label;
      button.replaceChildren(icon(copied ? "check" : "close"));
    }
    setTimeout(() => {
      button.classList.remove("done");
      if (button.classList.contains("code-copy")) button.textContent = t.copyCode;
      else {
        button.setAttribute("aria-label", t.copy);
        button.title = t.copy;
        button.replaceChildren(icon("copy"));
      }
    }, 1500);
  }

  function confirmDialog(text) {
    return new Promise((resolve) => {
      ui.confirmText.textContent = text;
      ui.confirmDialog.returnValue = "";
      ui.confirmDialog.addEventListener("close", () => resolve(ui.confirmDialog.returnValue === "confirm"), {
        once: true,
      });
      ui.confirmDialog.showModal();
    });
  }

  // --- Scrolling ----------------------------------------------------------------------------

  function distanceFromBottom() {
    return ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight;
  }

  function scrollToBottom(smooth) {
    ui.scroller.scrollTo({ top: ui.scroller.scrollHeight, behavior: smooth ? "smooth" : "instant" });
    state.stick = true;
    ui.jump.hidden = true;
  }

  ui.scroller.addEventListener(
    "scroll",
    () => {
      state.stick = distanceFromBottom() < 12;
      ui.jump.hidden = state.stick || !ui.messages.childElementCount;
    },
    { passive: true },
  );
  ui.jump.addEventListener("click", () => scrollToBottom(true));

  // Runs `change` (which alters the messages) so that the view stays at the end if it was
  // there, and otherwise stays exactly where the person is reading.
  function keepingScroll(change) {
    const top = ui.scroller.scrollTop;
    change();
    if (state.stick) ui.scroller.scrollTop = ui.scroller.scrollHeight;
    else ui.scroller.scrollTop = top;
  }

  // --- Messages -----------------------------------------------------------------------------

  const views = new WeakMap(); // article -> MessageView

  class MessageView {
    constructor(message) {
      this.role = message.role;
      this.content = message.content || "";
      this.reasoning = message.reasoning || "";
      this.lastId = null;
      this.question = null;
      this.finished = message.status !== "streaming";
      this.renderPending = false;
      this.nextRenderAt = 0;
      this.reasoningTouched = false;

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
      else this.actions.append(iconButton("refresh", t.regenerate, "regenerate"));
      article.append(this.body, this.statusLine, this.actions);

      this.setId(message.id);
      this.setStatus(message.status || "complete", message.error);
      this.render(this.finished);
    }

    setId(id) {
      this.id = id || null;
      this.article.dataset.id = id || "";
    }

    setStatus(status, error) {
      this.status = status;
      this.article.dataset.status = status;
      this.article.setAttribute("aria-busy", status === "streaming" ? "true" : "false");
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

    // The id to resume this answer's stream after: the server's lengths, in code points.
    lastEventId() {
      return this.lastId || `${length(this.content)}-${length(this.reasoning)}`;
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
        keepingScroll(() => this.render(false));
        const took = performance.now() - started;
        this.nextRenderAt = performance.now() + Math.min(took * 3, 400);
      };
      const wait = this.nextRenderAt - performance.now();
      if (wait > 0) setTimeout(() => requestAnimationFrame(run), wait);
      else requestAnimationFrame(run);
    }

    finish() {
      this.finished = true;
      keepingScroll(() => this.render(true));
    }

    render(final) {
      if (this.role === "user") {
        this.body.textContent = this.content;
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
      window.ChatMarkdown.render(this.body, this.content, { final, strings: t });
    }
  }

  function addMessage(message) {
    const view = new MessageView(message);
    ui.messages.append(view.article);
    ui.welcome.hidden = true;
    return view;
  }

  // Only the last answer can be regenerated; editing and regenerating wait for the stream.
  function refreshActions() {
    const articles = ui.messages.querySelectorAll(".message");
    articles.forEach((article, index) => article.classList.toggle("last", index === articles.length - 1));
  }

  ui.messages.addEventListener("click", (event) => {
    const codeCopy = event.target.closest(".code-copy");
    if (codeCopy) {
      const code = codeCopy.closest(".code-block").querySelector("pre code, pre");
      copyWithFeedback(codeCopy, code.textContent.replace(/\n$/, ""));
      return;
    }
    const button = event.target.closest("[data-action]");
    const article = button && button.closest(".message");
    const view = article && views.get(article);
    if (!view) return;
    if (button.dataset.action === "copy") copyWithFeedback(button, view.content);
    else if (button.dataset.action === "regenerate") regenerate(view);
    else if (button.dataset.action === "edit") startEdit(view);
  });

  // --- Streaming answers --------------------------------------------------------------------

  function setStreaming(on) {
    document.body.classList.toggle("streaming", on);
    ui.send.hidden = on;
    ui.stop.hidden = !on;
  }

  function setTitle(title) {
    const text = title || t.newChat;
    ui.chatTitle.textContent = text;
    document.title = `${text} · ${t.appName}`;
  }

  function handleEvent(view, name, data, id) {
    if (name === "meta") {
      if (data.assistant_message_id) view.setId(data.assistant_message_id);
      if (data.user_message_id && view.question) view.question.setId(data.user_message_id);
      if (data.title) updateChat({ id: state.chatId, title: data.title });
      if (state.live && state.live.view === view && state.live.stopRequested) stop();
    } else if (name === "delta") {
      if (id) view.lastId = id;
      view.append(data);
    } else if (name === "title") {
      view.gotTitle = true;
      updateChat({ id: state.chatId, title: data.title });
    } else if (name === "done") {
      view.setStatus(data.status || "complete");
    } else if (name === "error") {
      view.setStatus("error", data.message);
    }
  }

  // Streams an answer into `view`. `open(signal)` makes the request that answers with the
  // events. A stream that breaks before the answer's end resumes from the last event, as
  // docs/api.md describes, so a flaky network or proxy costs no text.
  async function runAnswer(view, open, { onOpenError } = {}) {
    const controller = new AbortController();
    const live = (state.live = { view, controller, stopRequested: false });
    setStreaming(true);
    refreshActions();
    let ended = false;
    const onEvent = (name, data, id) => {
      handleEvent(view, name, data, id);
      if (name === "done" || name === "error") ended = true;
    };
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
      for (let attempt = 1; ; attempt++) {
        if (response) {
          try {
            await readEvents(response, onEvent);
          } catch (error) {
            if (error.name === "AbortError") throw error;
          }
          if (ended) break;
        }
        if (!view.id || attempt > 6) throw new ApiError(t.connectionLost, -1);
        notice(t.reconnecting);
        await sleep(Math.min(500 * 2 ** attempt, 8000), controller.signal);
        try {
          response = await request("GET", `/api/messages/${view.id}/stream/`, {
            headers: { "Last-Event-ID": view.lastEventId() },
            signal: controller.signal,
          });
          notice("");
        } catch (error) {
          if (error.name === "AbortError" || (error.status >= 400 && error.status < 500)) throw error;
          response = null;
        }
      }
    } catch (error) {
      if (error.name === "AbortError") return; // the person left this conversation; it goes on
      view.setStatus("error", describe(error));
      if (error.status === -1) notice(t.connectionLost);
    } finally {
      if (state.live === live) {
        state.live = null;
        setStreaming(false);
        view.finish();
        refreshActions();
        refreshChats(!view.gotTitle);
      }
    }
  }

  function follow(view) {
    runAnswer(view, (signal) =>
      request("GET", `/api/messages/${view.id}/stream/`, {
        headers: { "Last-Event-ID": view.lastEventId() },
        signal,
      }),
    );
  }

  // Stops reading the current answer (the server goes on generating it).
  function detachLive() {
    if (!state.live) return;
    state.live.controller.abort();
    state.live = null;
    setStreaming(false);
  }

  async function stop() {
    const live = state.live;
    if (!live) return;
    if (!live.view.id) {
      live.stopRequested = true; // sent when the answer's id arrives
      return;
    }
    try {
      await json("POST", `/api/messages/${live.view.id}/stop/`);
    } catch (error) {
      notice(describe(error));
    }
  }

  async function ensureConversation() {
    if (state.chatId) return state.chatId;
    const chat = await json("POST", "/api/chats/", {
      model: ui.model.value,
      system_prompt: state.draftSystemPrompt,
    });
    state.chatId = chat.id;
    state.chat = chat;
    history.pushState({}, "", `/c/${chat.id}/`);
    state.chats.unshift(chat);
    renderSidebar();
    return chat.id;
  }

  // Sends a message; false when it could not be sent (nothing was saved).
  async function send(content) {
    if (state.live) return false;
    if (length(content) > config.max_prompt_chars) {
      notice(format(t.tooLong, { max: config.max_prompt_chars }));
      return false;
    }
    notice("");
    let chatId;
    try {
      chatId = await ensureConversation();
    } catch (error) {
      notice(describe(error));
      return false;
    }
    const question = addMessage({ role: "user", content });
    const answer = addMessage({ role: "assistant", status: "streaming" });
    answer.question = question;
    scrollToBottom();
    let sent = true;
    await runAnswer(
      answer,
      (signal) =>
        request("POST", `/api/chats/${chatId}/messages/`, {
          body: { content, model: ui.model.value },
          signal,
        }),
      {
        onOpenError(error) {
          // Refused before anything was saved: give the text back.
          question.article.remove();
          answer.article.remove();
          ui.welcome.hidden = ui.messages.childElementCount > 0;
          notice(describe(error));
          sent = false;
        },
      },
    );
    return sent;
  }

  // After a refused regenerate or edit, show what the server has.
  function reloadAfter(error) {
    const id = state.chatId;
    openConversation(id, { push: false }).then(() => notice(describe(error)));
  }

  function regenerate(view) {
    if (state.live || !view.id) return;
    notice("");
    const id = view.id;
    view.article.remove();
    const answer = addMessage({ role: "assistant", status: "streaming" });
    scrollToBottom();
    runAnswer(
      answer,
      (signal) =>
        request("POST", `/api/messages/${id}/regenerate/`, { body: { model: ui.model.value }, signal }),
      { onOpenError: reloadAfter },
    );
  }

  function startEdit(view) {
    if (state.live || !view.id || view.article.classList.contains("editing")) return;
    view.article.classList.add("editing");
    const form = document.createElement("form");
    form.className = "edit-form";
    const area = document.createElement("textarea");
    area.value = view.content;
    area.rows = Math.min(12, Math.max(2, view.content.split("\n").length));
    area.setAttribute("aria-label", t.edit);
    const buttons = document.createElement("div");
    buttons.className = "edit-actions";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = t.cancel;
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "primary";
    save.textContent = t.send;
    buttons.append(cancel, save);
    form.append(area, buttons);
    view.body.hidden = true;
    view.article.insertBefore(form, view.statusLine);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);

    const close = () => {
      form.remove();
      view.body.hidden = false;
      view.article.classList.remove("editing");
    };
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const content = area.value;
      if (!content.trim() || state.live) return;
      if (length(content) > config.max_prompt_chars) {
        notice(format(t.tooLong, { max: config.max_prompt_chars }));
        return;
      }
      close();
      resend(view, content);
    });
  }

  // Replaces an earlier message of the person, and everything after it, with a new turn.
  function resend(view, content) {
    notice("");
    while (view.article.nextElementSibling) view.article.nextElementSibling.remove();
    view.setContent(content);
    const answer = addMessage({ role: "assistant", status: "streaming" });
    answer.question = view;
    scrollToBottom();
    runAnswer(
      answer,
      (signal) =>
        request("POST", `/api/messages/${view.id}/edit/`, { body: { content, model: ui.model.value }, signal }),
      { onOpenError: reloadAfter },
    );
  }

  // --- Conversations ------------------------------------------------------------------------

  async function openConversation(id, { push = true } = {}) {
    detachLive();
    state.chatId = id;
    if (push) history.pushState({}, "", `/c/${id}/`);
    markCurrent();
    closeSidebar();
    notice("");
    ui.messages.replaceChildren();
    ui.welcome.hidden = true;
    let chat;
    try {
      chat = await json("GET", `/api/chats/${id}/`);
    } catch (error) {
      if (state.chatId !== id) return;
      if (error.status === 404) {
        newChat({ push: false });
        history.replaceState({}, "", "/");
        notice(t.notFound);
      } else {
        notice(describe(error));
      }
      return;
    }
    if (state.chatId !== id) return; // another conversation was opened meanwhile
    state.chat = chat;
    setTitle(chat.title);
    ui.model.value = config.models.includes(chat.model) ? chat.model : config.default_model;
    showDemoBadge();
    ui.systemPrompt.value = chat.system_prompt;
    showSystemPromptSet();
    let live = null;
    for (const message of chat.messages) {
      const view = addMessage(message);
      if (message.status === "streaming") live = view;
    }
    ui.welcome.hidden = chat.messages.length > 0;
    refreshActions();
    scrollToBottom();
    if (live) follow(live);
  }

  function newChat({ push = true } = {}) {
    detachLive();
    state.chatId = null;
    state.chat = null;
    if (push && window.location.pathname !== "/") history.pushState({}, "", "/");
    ui.messages.replaceChildren();
    ui.welcome.hidden = false;
    setTitle("");
    ui.model.value = config.default_model;
    showDemoBadge();
    state.draftSystemPrompt = "";
    ui.systemPrompt.value = "";
    showSystemPromptSet();
    markCurrent();
    closeSidebar();
    notice("");
    ui.prompt.focus();
  }

  window.addEventListener("popstate", () => {
    const match = /^\/c\/(\d+)\/$/.exec(window.location.pathname);
    if (match) openConversation(Number(match[1]), { push: false });
    else newChat({ push: false });
  });

  // --- Sidebar ------------------------------------------------------------------------------

  function findChat(id) {
    return state.chats.find((chat) => chat.id === id) || (state.found || []).find((chat) => chat.id === id);
  }

  // Applies changed fields of a conversation everywhere it shows.
  function updateChat(changed) {
    if (!changed.id) return;
    for (const list of [state.chats, state.found || []]) {
      const chat = list.find((item) => item.id === changed.id);
      if (chat) Object.assign(chat, changed);
    }
    if (changed.id === state.chatId && "title" in changed) setTitle(changed.title);
    renderSidebar();
  }

  async function loadChats() {
    const data = await json("GET", "/api/chats/");
    // Keep the conversations of later pages already loaded.
    const ids = new Set(data.results.map((chat) => chat.id));
    state.chats = data.results.concat(state.chats.filter((chat) => !ids.has(chat.id)));
    if (!state.morePagesLoaded) state.nextPage = data.next_page;
    const current = data.results.find((chat) => chat.id === state.chatId);
    if (current) setTitle(current.title);
    renderSidebar();
  }

  // After an answer: the conversation moved to the top and may have a new title, which the
  // server may name a moment later.
  function refreshChats(titleMayFollow) {
    loadChats().catch(() => {});
    if (titleMayFollow) setTimeout(() => loadChats().catch(() => {}), 3000);
  }

  async function loadMore() {
    if (!state.nextPage) return;
    ui.loadMore.disabled = true;
    try {
      const data = await json("GET", `/api/chats/?page=${state.nextPage}`);
      const ids = new Set(state.chats.map((chat) => chat.id));
      state.chats.push(...data.results.filter((chat) => !ids.has(chat.id)));
      state.nextPage = data.next_page;
      state.morePagesLoaded = true;
      renderSidebar();
    } catch (error) {
      notice(describe(error));
    } finally {
      ui.loadMore.disabled = false;
    }
  }

  function visibleChats() {
    const query = state.query.trim().toLowerCase();
    if (!query) return state.chats;
    const seen = new Set();
    const shown = [];
    for (const chat of state.chats.concat(state.found || [])) {
      if (seen.has(chat.id) || !(chat.title || t.newChat).toLowerCase().includes(query)) continue;
      seen.add(chat.id);
      shown.push(chat);
    }
    return shown.sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : b.id - a.id));
  }

  function groupOf(isoDate) {
    const day = 24 * 60 * 60 * 1000;
    const now = new Date();
    const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
    const time = new Date(isoDate).getTime();
    if (time >= today) return "today";
    if (time >= today - day) return "yesterday";
    if (time >= today - 7 * day) return "previous7";
    if (time >= today - 30 * day) return "previous30";
    return "older";
  }

  function chatItem(chat) {
    const item = document.createElement("div");
    item.className = "chat-item";
    item.dataset.id = chat.id;
    const link = document.createElement("a");
    link.className = "chat-link";
    link.href = `/c/${chat.id}/`;
    link.textContent = chat.title || t.newChat;
    link.title = chat.title || t.newChat;
    if (chat.id === state.chatId) link.setAttribute("aria-current", "page");
    const actions = document.createElement("span");
    actions.className = "chat-actions";
    actions.append(iconButton("edit", t.rename, "rename"), iconButton("trash", t.delete, "delete"));
    item.append(link, actions);
    return item;
  }

  function renderSidebar() {
    if (state.renaming) return; // redrawn when the renaming ends
    const chats = visibleChats();
    const items = [];
    let group = null;
    for (const chat of chats) {
      const next = groupOf(chat.updated_at);
      if (next !== group) {
        group = next;
        const heading = document.createElement("h2");
        heading.className = "chat-group";
        heading.textContent = t[group];
        items.push(heading);
      }
      items.push(chatItem(chat));
    }
    ui.conversations.replaceChildren(...items);
    ui.conversationsEmpty.textContent = state.query.trim() ? t.noResults : t.noChats;
    ui.conversationsEmpty.hidden = chats.length > 0;
    ui.loadMore.hidden = !state.nextPage || Boolean(state.query.trim());
  }

  function markCurrent() {
    for (const link of ui.conversations.querySelectorAll(".chat-link")) {
      if (Number(link.parentElement.dataset.id) === state.chatId) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  function search() {
    state.query = ui.search.value;
    renderSidebar(); // the conversations already loaded, at once
    clearTimeout(state.searchTimer);
    const query = state.query.trim();
    if (!query) {
      state.found = null;
      return;
    }
    // Then the server's answer, for conversations not loaded yet.
    state.searchTimer = setTimeout(async () => {
      const seq = ++state.searchSeq;
      try {
        const data = await json("GET", `/api/chats/?q=${encodeURIComponent(query)}`);
        if (seq !== state.searchSeq || query !== state.query.trim()) return;
        state.found = data.results;
        renderSidebar();
      } catch (error) {
        notice(describe(error));
      }
    }, 250);
  }

  function startRename(item) {
    const id = Number(item.dataset.id);
    const chat = findChat(id);
    if (!chat || state.renaming) return;
    state.renaming = id;
    const link = item.querySelector(".chat-link");
    const input = document.createElement("input");
    input.className = "rename-input";
    input.value = chat.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", t.rename);
    link.hidden = true;
    item.insertBefore(input, link);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (save && title && title !== chat.title) {
        link.textContent = title;
        try {
          const updated = await json("PATCH", `/api/chats/${id}/`, { title });
          state.renaming = null;
          updateChat({ id, title: updated.title });
          return;
        } catch (error) {
          notice(describe(error));
        }
      }
      state.renaming = null;
      renderSidebar();
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

  async function deleteChat(id) {
    const chat = findChat(id);
    if (!chat) return;
    if (!(await confirmDialog(format(t.deleteConfirm, { title: chat.title || t.newChat })))) return;
    try {
      await json("DELETE", `/api/chats/${id}/`);
    } catch (error) {
      if (error.status !== 404) {
        notice(describe(error));
        return;
      }
    }
    state.chats = state.chats.filter((item) => item.id !== id);
    if (state.found) state.found = state.found.filter((item) => item.id !== id);
    renderSidebar();
    if (state.chatId === id) newChat();
  }

  ui.conversations.addEventListener("click", (event) => {
    const item = event.target.closest(".chat-item");
    if (!item) return;
    const action = event.target.closest("[data-action]");
    if (action && action.dataset.action === "rename") startRename(item);
    else if (action && action.dataset.action === "delete") deleteChat(Number(item.dataset.id));
    else if (event.target.closest(".chat-link")) {
      // A plain click opens it in place; with a modifier key the browser opens a tab.
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      const id = Number(item.dataset.id);
      if (id !== state.chatId || !state.chat) openConversation(id);
      else closeSidebar();
    }
  });
  ui.search.addEventListener("input", search);
  ui.loadMore.addEventListener("click", loadMore);

  // --- Phone layout: the sidebar slides over the conversation ---------------------------------

  function openSidebar() {
    document.body.classList.add("sidebar-open");
    ui.backdrop.hidden = false;
    ui.openSidebar.setAttribute("aria-expanded", "true");
  }

  function closeSidebar() {
    if (!document.body.classList.contains("sidebar-open")) return;
    document.body.classList.remove("sidebar-open");
    ui.backdrop.hidden = true;
    ui.openSidebar.setAttribute("aria-expanded", "false");
  }

  ui.openSidebar.addEventListener("click", openSidebar);
  ui.closeSidebar.addEventListener("click", closeSidebar);
  ui.backdrop.addEventListener("click", closeSidebar);

  // --- Model and settings -------------------------------------------------------------------

  function showDemoBadge() {
    ui.demoBadge.hidden = ui.model.value !== config.demo_model;
  }

  function showSystemPromptSet() {
    ui.settingsToggle.classList.toggle("active", Boolean(ui.systemPrompt.value.trim()));
    ui.settingsStatus.textContent = "";
  }

  for (const model of config.models) {
    const option = document.createElement("option");
    option.value = model;
    option.textContent = model === config.demo_model ? format(t.demoModel, { model }) : model;
    ui.model.append(option);
  }
  ui.model.value = config.default_model;
  showDemoBadge();
  ui.model.addEventListener("change", async () => {
    showDemoBadge();
    if (!state.chatId) return;
    try {
      await json("PATCH", `/api/chats/${state.chatId}/`, { model: ui.model.value });
    } catch (error) {
      notice(describe(error));
    }
  });

  function toggleSettings(open) {
    ui.settings.hidden = !open;
    ui.settingsToggle.setAttribute("aria-expanded", String(open));
    if (open) ui.systemPrompt.focus();
  }

  ui.settingsToggle.addEventListener("click", () => toggleSettings(ui.settings.hidden));
  ui.systemPrompt.addEventListener("input", () => {
    ui.settingsStatus.textContent = "";
  });
  ui.settingsClose.addEventListener("click", () => toggleSettings(false));
  ui.settingsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = ui.systemPrompt.value;
    if (length(prompt) > config.max_system_prompt_chars) {
      ui.settingsStatus.textContent = format(t.tooLong, { max: config.max_system_prompt_chars });
      return;
    }
    if (state.chatId) {
      try {
        await json("PATCH", `/api/chats/${state.chatId}/`, { system_prompt: prompt });
      } catch (error) {
        ui.settingsStatus.textContent = describe(error);
        return;
      }
    } else {
      state.draftSystemPrompt = prompt;
    }
    showSystemPromptSet();
    ui.settingsStatus.textContent = t.saved;
  });

  // --- Composer -----------------------------------------------------------------------------

  function fitPrompt() {
    ui.prompt.style.height = "auto";
    ui.prompt.style.height = `${Math.min(ui.prompt.scrollHeight, window.innerHeight * 0.4)}px`;
  }

  ui.composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = ui.prompt.value;
    if (!content.trim() || state.live) return;
    ui.prompt.value = "";
    fitPrompt();
    const sent = await send(content);
    if (!sent && !ui.prompt.value) {
      ui.prompt.value = content;
      fitPrompt();
    }
  });
  ui.prompt.addEventListener("input", fitPrompt);
  ui.prompt.addEventListener("keydown", (event) => {
    // Not while an input method composes (Chinese, Japanese…): Enter picks a candidate there.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.stop.addEventListener("click", stop);
  ui.newChat.addEventListener("click", () => newChat());
  ui.newChatHeader.addEventListener("click", () => newChat());
  ui.shortcutsButton.addEventListener("click", () => ui.shortcutsDialog.showModal());

  // --- Keyboard shortcuts -------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    const command = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (command && event.shiftKey && key === "o") {
      event.preventDefault();
      newChat();
    } else if (command && !event.shiftKey && key === "k") {
      event.preventDefault();
      openSidebar();
      ui.search.focus();
      ui.search.select();
    } else if (command && key === "/") {
      event.preventDefault();
      ui.shortcutsDialog.showModal();
    } else if (event.key === "Escape" && event.shiftKey) {
      event.preventDefault();
      ui.prompt.focus();
    } else if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      if (document.body.classList.contains("sidebar-open")) closeSidebar();
      else if (state.live) {
        event.preventDefault();
        stop();
      }
    }
  });

  // --- Failures: say so, never leave a blank or silent page ---------------------------------

  window.addEventListener("error", () => notice(t.pageError));
  window.addEventListener("unhandledrejection", (event) => {
    if (event.reason && event.reason.name === "AbortError") return;
    notice(t.pageError);
  });
  window.addEventListener("offline", () => notice(t.offline));
  window.addEventListener("online", () => {
    if (ui.notice.textContent === t.offline) notice("");
  });

  // --- Start --------------------------------------------------------------------------------

  loadChats().catch((error) => notice(describe(error)));
  if (state.chatId) openConversation(state.chatId, { push: false });
  else newChat({ push: false });
  ui.prompt.focus();
})();
