// The "Your data" page: a share link stopped in place; a file chosen for import is previewed
// first (POST ?preview=1, which writes nothing), then imported with the same file when the
// person confirms.
import { ApiError, csrfToken, json } from "./api.js";
import { format } from "./text.js";

const form = document.getElementById("import-form");
const input = document.getElementById("import-file");
const preview = document.getElementById("import-preview");
const status = document.getElementById("import-status");
const confirm = document.getElementById("import-confirm");

async function post(file, { preview: previewOnly }) {
  const body = new FormData();
  body.append("file", file);
  let response;
  try {
    response = await fetch(form.dataset.url + (previewOnly ? "?preview=1" : ""), {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken() },
      body,
      credentials: "same-origin",
    });
  } catch {
    throw new Error(status.dataset.failed);
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    // A proxy's page (a 413 from nginx, say) is no JSON.
  }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function list(element, items) {
  element.replaceChildren(
    ...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}

function show(summary) {
  document.getElementById("import-counts").textContent = format(
    document.getElementById("import-counts").dataset.template,
    {
      conversations: summary.conversations,
      messages: summary.messages,
      presets: summary.presets,
      already: summary.already_imported,
    },
  );
  list(
    document.getElementById("import-titles"),
    summary.titles.map((title) => title || status.dataset.untitled),
  );
  list(
    document.getElementById("import-skipped"),
    summary.skipped.map((entry) => `${entry.title || status.dataset.untitled}: ${entry.reason}`),
  );
  document.getElementById("import-skipped-box").hidden = summary.skipped.length === 0;
  confirm.hidden = summary.conversations === 0 && summary.presets === 0;
  preview.hidden = false;
}

input.addEventListener("change", async () => {
  preview.hidden = true;
  document.getElementById("import-done-link").hidden = true;
  const [file] = input.files;
  if (!file) return;
  status.textContent = status.dataset.reading;
  try {
    const summary = await post(file, { preview: true });
    show(summary);
    status.textContent = summary.conversations || summary.presets ? "" : status.dataset.nothing;
  } catch (error) {
    status.textContent = error.message;
  }
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const [file] = input.files;
  if (!file) return;
  confirm.disabled = true;
  status.textContent = status.dataset.importing;
  try {
    const summary = await post(file, { preview: false });
    preview.hidden = true;
    status.textContent = format(status.dataset.done, summary);
    document.getElementById("import-done-link").hidden = false;
  } catch (error) {
    status.textContent = error.message;
  } finally {
    confirm.disabled = false;
  }
});

for (const button of document.querySelectorAll("[data-stop-share]")) {
  button.addEventListener("click", async () => {
    try {
      await json("DELETE", `/api/chats/${button.dataset.stopShare}/share/`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        status.textContent = error.message || status.dataset.failed;
        return;
      }
    }
    button.closest("tr").remove();
    if (!document.querySelector("[data-stop-share]")) {
      document.querySelector("table.shares").remove();
      document.getElementById("shares-empty").hidden = false;
    }
  });
}
