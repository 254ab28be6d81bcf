// The HTTP API of docs/api.md, for the page: fetch() with the CSRF header, every failure
// turned into an ApiError with the server's message.

export class ApiError extends Error {
  // status 0: the server could not be reached. retryAfter: the seconds a limit (429) says to
  // wait.
  constructor(message, status, field, retryAfter) {
    super(message);
    this.status = status;
    this.field = field || null;
    this.retryAfter = retryAfter || null;
  }
}

export function csrfToken(cookie = document.cookie) {
  const match = cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function request(method, url, { body, headers, signal } = {}) {
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
    let retryAfter = null;
    try {
      const data = await response.json();
      message = data.error || "";
      field = data.field;
      retryAfter = data.retry_after;
    } catch (e) {
      // Not JSON: a proxy's error page. The status says enough.
    }
    throw new ApiError(message || `HTTP ${response.status}`, response.status, field, retryAfter);
  }
  return response;
}

// The JSON a request answers with; null for 204 No Content.
export async function json(method, url, body) {
  const response = await request(method, url, { body });
  return response.status === 204 ? null : response.json();
}

// An answer's stream from after `lastEventId` (docs/api.md, "Following, resuming and stopping").
export function answerStream(answerId, lastEventId, signal) {
  return request("GET", `/api/messages/${answerId}/stream/`, { headers: { "Last-Event-ID": lastEventId }, signal });
}
