// An answer's thumbs up or down, with an optional note (docs/api.md, Feedback). Clicking the
// thumb already chosen takes the rating back; after a thumbs down, a short form under the
// answer asks what was wrong (the note is optional, and goes to the operator).
import { json } from "./api.js";
import { textForm } from "./dom.js";

const NOTE_MAX_LENGTH = 1000;

function urlOf(view) {
  return `/api/messages/${view.id}/feedback/`;
}

export async function rate(view, rating, { strings, notice }) {
  if (!view.id) return;
  const before = view.feedback;
  const again = before && before.rating === rating;
  closeNote(view);
  // Shown at once; put back as it was if the server refuses.
  view.setFeedback(again ? null : { rating, note: "" });
  try {
    if (again) {
      await json("DELETE", urlOf(view));
      return;
    }
    view.setFeedback(await json("PUT", urlOf(view), { rating }));
    if (rating === "down") openNote(view, { strings, notice });
  } catch (error) {
    view.setFeedback(before);
    notice.failed(error);
  }
}

export function closeNote(view) {
  if (view.noteForm) view.noteForm.remove();
  view.noteForm = null;
}

function openNote(view, { strings, notice }) {
  const { form, area, submit: send } = textForm({
    className: "feedback-form",
    label: strings.feedbackNote,
    cancelText: strings.skip,
    submitText: strings.send,
    onCancel: () => closeNote(view),
  });
  view.noteForm = form;
  area.rows = 2;
  area.maxLength = NOTE_MAX_LENGTH;
  area.placeholder = strings.feedbackNote;
  view.actions.after(form);
  area.focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!view.feedback) return closeNote(view);
    send.disabled = true;
    try {
      view.setFeedback(await json("PUT", urlOf(view), { rating: view.feedback.rating, note: area.value }));
    } catch (error) {
      send.disabled = false;
      notice.failed(error);
      return;
    }
    const thanks = document.createElement("p");
    thanks.className = "feedback-thanks";
    thanks.setAttribute("role", "status");
    thanks.textContent = strings.feedbackThanks;
    form.replaceWith(thanks);
    view.noteForm = thanks;
    setTimeout(() => {
      if (view.noteForm === thanks) closeNote(view);
    }, 4000);
  });
}
