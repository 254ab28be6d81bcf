// The HTTP API of docs/api.md, for the chat page: JSON requests, and answers read as
// Server-Sent Events from a fetch() stream (EventSource can neither POST nor send headers).
"use strict";

window.ChatAPI = (function () {
  class ApiError extends Error {
    // status 0: the server could not be reached.
    constructor(message, status, field) {
      super(message);
      this.status = status;
      this.field = field || null;
    }
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // fetch() that turns every failure into an ApiError with the server's message.
  async function request(method, url, { body, headers, signal } = {}) {
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("", 0);
    }
    if (!response.ok) {
      let message = "";
      let field = null;
      try {
        const data = await response.json();
        message = data.error || "";
        field = data.field;
      } catch (e) {
        // Not JSON: a proxy's error page. The status says enough.
      }
      throw new ApiError(message || `HTTP ${response.status}`, response.status, field);
    }
    return response;
  }

  async function json(method, url, body) {
    const response = await request(method, url, { body });
    return response.status === 204 ? null : response.json();
  }

  // Calls onEvent(name, data, id) for each event of an SSE response, as it arrives.
  // Resolves when the stream ends; rejects if the connection breaks.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r/g, "");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue; // heartbeat
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") name = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")), id);
      }
    }
  }

  return { ApiError, request, json, readEvents };
})();
