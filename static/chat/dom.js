// Small DOM helpers shared by the page's parts.

const SVG = "http://www.w3.org/2000/svg";

// The page's elements by id, under camelCase names: "new-chat" is `newChat`.
export function elements(ids) {
  const found = {};
  for (const id of ids) found[id.replace(/-(\w)/g, (_, letter) => letter.toUpperCase())] = document.getElementById(id);
  return found;
}

// An icon of the page's sprite (templates/chat/chat.html).
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function iconButton(name, label, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "icon-button";
  button.dataset.action = action;
  button.setAttribute("aria-label", label);
  button.title = label;
  button.append(icon(name));
  return button;
}

// A form of a text box and two buttons, "cancel" and "submit" (the message edit, the note of
// a thumbs down): Escape in the box cancels.
export function textForm({ className, label, cancelText, submitText, onCancel }) {
  const form = document.createElement("form");
  form.className = className;
  const area = document.createElement("textarea");
  area.setAttribute("aria-label", label);
  const buttons = document.createElement("div");
  buttons.className = "edit-actions";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = cancelText;
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "primary";
  submit.textContent = submitText;
  buttons.append(cancel, submit);
  form.append(area, buttons);
  cancel.addEventListener("click", onCancel);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      onCancel();
    }
  });
  return { form, area, submit };
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

// Copies `text` and says so on `button` (a message's icon button or a code block's) for a moment.
export async function copyWithFeedback(button, text, strings) {
  const copied = await copyText(text);
  const label = copied ? strings.copied : strings.copyFailed;
  button.classList.add("done");
  if (button.classList.contains("code-copy")) button.textContent = label;
  else {
    button.setAttribute("aria-label", label);
    button.title = label;
    button.replaceChildren(icon(copied ? "check" : "close"));
  }
  setTimeout(() => {
    button.classList.remove("done");
    if (button.classList.contains("code-copy")) button.textContent = strings.copyCode;
    else {
      button.setAttribute("aria-label", strings.copy);
      button.title = strings.copy;
      button.replaceChildren(icon("copy"));
    }
  }, 1500);
}

// Asks in the page's confirmation dialog; resolves true when the person confirms.
export function confirmDialog(dialog, textElement, text) {
  return new Promise((resolve) => {
    textElement.textContent = text;
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}
