// The files of the message being written (docs/api.md, "Files"): picked with the attach button
// (on a phone, the camera or the photo library), dropped on the composer, or pasted (a
// screenshot). Each is uploaded at once, with its progress, and shown as a chip to remove:
// an image with its thumbnail, served by the server once uploaded (the page loads images
// from its own origin only: no blob: or data: URL is needed), a document with its name.
import { csrfToken } from "./api.js";
import { icon } from "./dom.js";
import { format } from "./text.js";

// What the file input offers; the server decides by the content whatever the name says.
export const ACCEPT = "image/*,.pdf,.docx,.txt,.md,.markdown,.csv,.json,text/*,.py,.js,.ts,.java,.c,.cpp,.h,.go,.rs,.rb,.php,.sh,.sql,.yaml,.yml,.toml,.xml,.html,.css";

// A file's size, as a person reads it.
export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

// Uploads `file` to POST /api/files/; onProgress(fraction). Resolves with the file as the
// server describes it, rejects with an Error of the server's message.
function uploadFile(file, onProgress, strings) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/files/");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201 && xhr.response) resolve(xhr.response);
      else {
        const error = new Error((xhr.response && xhr.response.error) || `${strings.uploadFailed} (HTTP ${xhr.status})`);
        error.status = xhr.status;
        reject(error);
      }
    });
    xhr.addEventListener("error", () => reject(new Error(strings.networkError)));
    const body = new FormData();
    body.append("file", file, file.name || "file");
    xhr.send(body);
  });
}

export class Attachments {
  // elements: the composer (where files are dropped), the prompt (where they are pasted), the
  // attach button, the file input and the box of chips.
  constructor({ elements, strings, notice, maxFiles }) {
    this.ui = elements;
    this.strings = strings;
    this.notice = notice;
    this.maxFiles = maxFiles;
    // Each: {file (the server's), chip, uploading}.
    this.items = [];
    const ui = elements;
    ui.attachInput.accept = ACCEPT;
    ui.attach.addEventListener("click", () => ui.attachInput.click());
    ui.attachInput.addEventListener("change", () => {
      this.add([...ui.attachInput.files]);
      ui.attachInput.value = ""; // the same file can be picked again
    });
    ui.prompt.addEventListener("paste", (event) => {
      const data = event.clipboardData;
      const files = [...((data && data.files) || [])];
      // Text is pasted as usual, even when an office program adds a picture of it.
      if (!files.length || data.getData("text/plain")) return;
      event.preventDefault();
      this.add(files);
    });
    let depth = 0;
    const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
    ui.composer.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth += 1;
      ui.composer.classList.add("dropping");
    });
    ui.composer.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    ui.composer.addEventListener("dragleave", () => {
      depth = Math.max(depth - 1, 0);
      if (!depth) ui.composer.classList.remove("dropping");
    });
    ui.composer.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      ui.composer.classList.remove("dropping");
      this.add([...event.dataTransfer.files]);
    });
    ui.files.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action='remove-file']");
      if (button) this.remove(this.items.find((item) => item.chip === button.closest(".file-chip")));
    });
  }

  get count() {
    return this.items.length;
  }

  sayWait() {
    this.notice.show(this.strings.waitForUploads);
  }

  get uploading() {
    return this.items.some((item) => item.uploading);
  }

  add(files) {
    const t = this.strings;
    for (const file of files) {
      if (this.items.length >= this.maxFiles) {
        this.notice.show(format(t.tooManyFiles, { count: this.maxFiles }));
        break;
      }
      const item = { file: null, uploading: true, chip: this.chip(file.name || t.pastedImage, file.size) };
      this.items.push(item);
      this.show();
      uploadFile(
        file,
        (fraction) => {
          item.chip.querySelector("progress").value = fraction;
        },
        t,
      ).then(
        (uploaded) => {
          item.uploading = false;
          if (!this.items.includes(item)) {
            // Removed while it uploaded: not wanted any more.
            this.forget(uploaded.id);
            return;
          }
          item.file = uploaded;
          this.fill(item);
        },
        (error) => {
          this.notice.show(error.message);
          this.drop(item);
        },
      );
    }
  }

  chip(name, size) {
    const t = this.strings;
    const chip = document.createElement("div");
    chip.className = "file-chip uploading";
    const preview = document.createElement("span");
    preview.className = "file-preview";
    preview.append(icon("file"));
    const label = document.createElement("span");
    label.className = "file-name";
    label.textContent = name;
    label.title = `${name} · ${sizeText(size)}`;
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    progress.setAttribute("aria-label", format(t.uploading, { name }));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon-button file-remove";
    remove.dataset.action = "remove-file";
    remove.setAttribute("aria-label", format(t.removeFile, { name }));
    remove.title = remove.getAttribute("aria-label");
    remove.append(icon("close"));
    chip.append(preview, label, progress, remove);
    this.ui.files.append(chip);
    return chip;
  }

  // The chip of an uploaded file: its thumbnail, if an image, as the server stored it.
  fill(item) {
    const { chip, file } = item;
    chip.classList.remove("uploading");
    chip.dataset.id = file.id;
    chip.dataset.kind = file.kind;
    chip.querySelector("progress").remove();
    if (file.kind === "image") {
      const image = document.createElement("img");
      image.src = `/api/files/${file.id}/`;
      image.alt = file.name;
      chip.querySelector(".file-preview").replaceChildren(image);
    }
  }

  remove(item) {
    if (!item) return;
    this.drop(item);
    if (item.file) this.forget(item.file.id);
  }

  drop(item) {
    this.items = this.items.filter((other) => other !== item);
    item.chip.remove();
    this.show();
  }

  // An upload not wanted any more is deleted at once (purge_uploads would, a day later).
  forget(id) {
    fetch(`/api/files/${id}/`, {
      method: "DELETE",
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    }).catch(() => {});
  }

  show() {
    this.ui.files.hidden = this.items.length === 0;
  }

  // The files uploaded, taken out of the composer to be sent; give them back with restore().
  take() {
    const taken = this.items;
    this.items = [];
    for (const item of taken) item.chip.remove();
    this.show();
    return taken;
  }

  restore(taken) {
    this.items = [...taken, ...this.items];
    for (const item of taken.slice().reverse()) this.ui.files.prepend(item.chip);
    this.show();
  }
}

// The files sent with a message, above its text: images as thumbnails, documents as chips;
// either opens in the FileViewer (data-action "open-file").
export function filesOfMessage(files, strings) {
  const box = document.createElement("div");
  box.className = "message-files";
  for (const file of files) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = "open-file";
    button.dataset.id = file.id;
    button.dataset.kind = file.kind;
    button.dataset.name = file.name;
    button.dataset.url = file.url || `/api/files/${file.id}/`;
    if (file.kind === "image") {
      button.className = "message-image";
      button.setAttribute("aria-label", format(strings.openImage, { name: file.name }));
      button.title = file.name;
      const image = document.createElement("img");
      image.src = button.dataset.url;
      image.alt = file.name;
      image.loading = "lazy";
      button.append(image);
    } else {
      button.className = "file-chip message-document";
      button.title = `${file.name} · ${sizeText(file.size)}`;
      const name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      button.append(icon("file"), name);
    }
    box.append(button);
  }
  return box;
}

// The dialog that shows an image enlarged, or a document's text as the model reads it.
export class FileViewer {
  constructor({ elements, strings, notice }) {
    this.ui = elements;
    this.strings = strings;
    this.notice = notice;
    // Clicking the backdrop (the dialog itself, outside its box) closes it.
    elements.fileDialog.addEventListener("click", (event) => {
      if (event.target === elements.fileDialog) elements.fileDialog.close();
    });
  }

  async open({ kind, name, url }) {
    const ui = this.ui;
    ui.fileDialogTitle.textContent = name;
    ui.fileDialogDownload.href = url;
    ui.fileDialogDownload.download = name;
    ui.fileDialogImage.hidden = kind !== "image";
    ui.fileDialogText.hidden = kind === "image";
    ui.fileDialog.classList.toggle("showing-image", kind === "image");
    if (kind === "image") {
      ui.fileDialogImage.src = url;
      ui.fileDialogImage.alt = name;
    } else {
      ui.fileDialogText.textContent = this.strings.loading;
      try {
        const response = await fetch(`${url}?text=1`, { credentials: "same-origin" });
        if (!response.ok) throw new Error(response.status === 404 ? this.strings.fileGone : this.strings.serverError);
        ui.fileDialogText.textContent = await response.text();
      } catch (error) {
        ui.fileDialogText.textContent = error.message || this.strings.networkError;
      }
    }
    if (!ui.fileDialog.open) ui.fileDialog.showModal();
  }
}
