// The chat page: the sidebar of conversations, the open conversation, and the composer.
// It speaks the same HTTP API as scripts do (docs/api.md); answers arrive as Server-Sent
// Events over a fetch() stream, since EventSource cannot POST.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { conversationId: config.conversation_id, streaming: null };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok && response.status !== 204) {
      let message = response.statusText;
      try {
        message = (await response.json()).error || message;
      } catch (e) {}
      throw new Error(message);
    }
    return response.status === 204 ? null : response.json();
  }

  function notice(text) {
    const el = $("notice");
    el.textContent = text || "";
    el.hidden = !text;
  }

  // --- Sidebar ---------------------------------------------------------------------------

  async function loadConversations() {
    const data = await api("GET", "/api/chats/");
    const nav = $("conversations");
    nav.replaceChildren();
    for (const chat of data.results) {
      const link = document.createElement("a");
      link.href = `/c/${chat.id}/`;
      link.dataset.id = chat.id;
      link.textContent = chat.title || "…";
      if (chat.id === state.conversationId) link.setAttribute("aria-current", "page");
      nav.append(link);
    }
  }

  // --- Messages --------------------------------------------------------------------------

  function messageElement(message) {
    const el = document.createElement("article");
    el.className = `message ${message.role}`;
    el.dataset.id = message.id || "";
    el.dataset.status = message.status || "complete";
    const body = document.createElement("div");
    body.className = "content";
    body.textContent = message.content || "";
    el.append(body);
    const status = document.createElement("p");
    status.className = "status";
    el.append(status);
    showStatus(el, message.status, message.error);
    $("messages").append(el);
    return el;
  }

  const STATUS_TEXT = { stopped: "Stopped.", interrupted: "Interrupted: the server restarted during this answer." };

  function showStatus(el, status, error) {
    el.dataset.status = status || "complete";
    const line = el.querySelector(".status");
    line.textContent = status === "error" ? error || "Error." : STATUS_TEXT[status] || "";
  }

  function scrollToEnd() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  async function openConversation(id) {
    const chat = await api("GET", `/api/chats/${id}/`);
    state.conversationId = chat.id;
    $("chat-title").textContent = chat.title || $("chat-title").textContent;
    $("model").value = chat.model;
    showDemoBadge();
    $("messages").replaceChildren();
    let live = null;
    for (const message of chat.messages) {
      const el = messageElement(message);
      if (message.status === "streaming") live = { el, message };
    }
    scrollToEnd();
    if (live) followAnswer(live.message.id, live.el, live.message.content.length);
  }

  // --- Streaming -------------------------------------------------------------------------

  // Reads an SSE body and calls onEvent(name, data, id) for each event.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message", data = "", id = null;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
          else if (line.startsWith("id: ")) id = line.slice(4);
        }
        if (data) onEvent(name, JSON.parse(data), id);
      }
    }
  }

  function handleAnswerEvents(el) {
    const body = el.querySelector(".content");
    return (name, data) => {
      if (name === "meta" && data.assistant_message_id) {
        el.dataset.id = data.assistant_message_id;
        state.streaming = data.assistant_message_id;
      } else if (name === "delta" && data.content) {
        body.textContent += data.content;
        scrollToEnd();
      } else if (name === "done") {
        showStatus(el, data.status);
      } else if (name === "error") {
        showStatus(el, "error", data.message);
      }
    };
  }

  function setStreaming(on) {
    $("send").hidden = on;
    $("stop").hidden = !on;
    if (!on) state.streaming = null;
  }

  async function followAnswer(messageId, el, contentLength) {
    setStreaming(true);
    state.streaming = messageId;
    try {
      const response = await fetch(`/api/messages/${messageId}/stream/`, {
        headers: { "Last-Event-ID": `${contentLength}-0` },
        credentials: "same-origin",
      });
      await readEvents(response, handleAnswerEvents(el));
    } catch (e) {
      notice("The connection was lost. Reload the page to see the rest of the answer.");
    } finally {
      setStreaming(false);
    }
  }

  async function send(content) {
    notice("");
    if (!state.conversationId) {
      const chat = await api("POST", "/api/chats/", { model: $("model").value });
      state.conversationId = chat.id;
      history.pushState(null, "", `/c/${chat.id}/`);
    }
    messageElement({ role: "user", content });
    const answer = messageElement({ role: "assistant", content: "", status: "streaming" });
    scrollToEnd();
    setStreaming(true);
    try {
      const response = await fetch(`/api/chats/${state.conversationId}/messages/`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ content, model: $("model").value }),
        credentials: "same-origin",
      });
      if (!response.ok) {
        let message = response.statusText;
        try {
          message = (await response.json()).error || message;
        } catch (e) {}
        showStatus(answer, "error", message);
        return;
      }
      await readEvents(response, (name, data, id) => {
        if (name === "meta" && data.title) $("chat-title").textContent = data.title;
        handleAnswerEvents(answer)(name, data, id);
      });
    } catch (e) {
      notice("The connection was lost. Reload the page to see the rest of the answer.");
    } finally {
      setStreaming(false);
      loadConversations().catch(() => {});
    }
  }

  // --- Controls --------------------------------------------------------------------------

  function showDemoBadge() {
    $("demo-badge").hidden = $("model").value !== config.demo_model;
  }

  for (const model of config.models) {
    const option = document.createElement("option");
    option.value = option.textContent = model;
    $("model").append(option);
  }
  $("model").value = config.default_model;
  $("model").addEventListener("change", showDemoBadge);
  showDemoBadge();

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const content = $("prompt").value;
    if (!content.trim() || state.streaming !== null && !$("stop").hidden) return;
    $("prompt").value = "";
    send(content);
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => {
    if (state.streaming) api("POST", `/api/messages/${state.streaming}/stop/`).catch((e) => notice(e.message));
  });
  $("new-chat").addEventListener("click", () => {
    window.location.href = "/";
  });

  loadConversations().catch((e) => notice(e.message));
  if (state.conversationId) openConversation(state.conversationId).catch((e) => notice(e.message));
  $("prompt").focus();
})();
