// The composer: the message box that grows with its text, Enter to send (not while an input
// method composes), and the send button that becomes a stop button while an answer streams.
// Sending can wait for the person to do something first (settings.js: pick a model). What is
// typed is the open conversation's draft (drafts.js) until it is sent.

export class Composer {
  // send(content) resolves false when the message could not be sent (it is given back then);
  // busy() whether an answer streams; stop() stops it; drafts (drafts.js) and currentId(),
  // the open conversation's id, keep what is typed per conversation.
  // attachments (attachments.js): the files that go with the message, which may be sent
  // without text (a pasted screenshot); send(content, files) gets them.
  constructor({ elements, send, busy, stop, drafts, currentId, attachments }) {
    this.ui = elements;
    this.sendable = true;
    this.drafts = drafts;
    this.currentId = currentId;
    const ui = elements;
    ui.composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      const content = ui.prompt.value;
      // Not sendable: the text stays in the box for when it is.
      if ((!content.trim() && !attachments.count) || busy() || !this.sendable) return;
      if (attachments.uploading) {
        attachments.sayWait();
        return;
      }
      // Kept until the server has it: a lost session goes to the log-in page, and back.
      const id = currentId();
      drafts.set(id, content);
      ui.prompt.value = "";
      this.fit();
      const taken = attachments.take();
      const sent = await send(
        content,
        taken.map((item) => item.file),
      );
      if (sent) {
        // Unless the person typed the next one meanwhile.
        if (drafts.get(id) === content) drafts.clear(id);
      } else {
        attachments.restore(taken);
        if (!ui.prompt.value) {
          ui.prompt.value = content;
          this.fit();
        }
      }
    });
    ui.prompt.addEventListener("input", () => {
      drafts.set(currentId(), ui.prompt.value);
      this.fit();
    });
    ui.prompt.addEventListener("keydown", (event) => {
      // Not while an input method composes (Chinese, Japanese…): Enter picks a candidate there.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        ui.composer.requestSubmit();
      }
    });
    ui.stop.addEventListener("click", stop);
  }

  fit() {
    const prompt = this.ui.prompt;
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight, window.innerHeight * 0.4)}px`;
  }

  // The draft of the conversation now open, in the box.
  showDraft() {
    const draft = this.drafts.get(this.currentId());
    if (this.ui.prompt.value === draft) return; // the same conversation again: leave the caret
    this.ui.prompt.value = draft;
    this.fit();
  }

  focus() {
    this.ui.prompt.focus();
  }

  // Off: the send button is disabled and Enter sends nothing; the message box still takes
  // text. The body's class hides regenerate and edit too, which would be refused as well.
  setSendable(on) {
    this.sendable = on;
    this.ui.send.disabled = !on;
    document.body.classList.toggle("cannot-send", !on);
  }

  setStreaming(on) {
    document.body.classList.toggle("streaming", on);
    this.ui.send.hidden = on;
    this.ui.stop.hidden = !on;
  }
}
