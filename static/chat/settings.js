// The conversation's settings in its header: the model picker (with the demo model's badge)
// and the system prompt panel. A new conversation's choices are kept here until its first
// message creates it.
import { json } from "./api.js";
import { format, length } from "./text.js";

// The offer (of config.models) a conversation's saved model id names, or null. As the server
// does (chat/catalogue.py): an id is a model's name, or `<provider>/<name>` when two providers
// offer that name; a conversation saved under either spelling keeps its model when a second
// provider adds (or removes) the same name.
export function offerOf(models, id) {
  return (
    models.find((model) => model.id === id) ||
    models.find((model) => `${model.provider}/${model.id}` === id) ||
    models.find((model) => model.id === `${model.provider}/${id}`) ||
    null
  );
}

export class Settings {
  // currentId(): the open conversation's id, null for a new one. composer: its send waits
  // while the open conversation has no model to answer with.
  constructor({ elements, config, notice, composer, currentId }) {
    this.ui = elements;
    this.config = config;
    this.strings = config.strings;
    this.notice = notice;
    this.composer = composer;
    this.currentId = currentId;
    // A new conversation's system prompt, kept until the conversation is created.
    this.draftSystemPrompt = "";
    // The saved model of the conversation opened when it is no longer offered, else null.
    this.retiredModel = null;
    this.retiredNote = "";

    const ui = elements;
    // Grouped by provider, in the order the server offers them: the same model name can come
    // from two providers, and the group tells which one answers.
    const groups = new Map();
    for (const model of config.models) {
      if (!groups.has(model.provider)) {
        const group = document.createElement("optgroup");
        group.label = model.provider;
        groups.set(model.provider, group);
        ui.model.append(group);
      }
      const option = document.createElement("option");
      option.value = model.id;
      option.textContent = model.label;
      if (model.id === config.demo_model) this.demoOption = { option, label: model.label };
      groups.get(model.provider).append(option);
    }
    // The demo model says so in its label, but not on a phone's narrow header, where the
    // label would be cut off ("demo (demo,"): its badge beside the picker says it there.
    this.narrow = window.matchMedia("(max-width: 768px)");
    this.labelDemo();
    this.narrow.addEventListener("change", () => this.labelDemo());
    // In the picker while a conversation's model is no longer offered: nothing is picked yet.
    this.placeholder = document.createElement("option");
    this.placeholder.value = "";
    this.placeholder.disabled = true;
    this.placeholder.textContent = this.strings.pickModel;
    ui.model.value = config.default_model;
    this.showDemoBadge();
    ui.model.addEventListener("change", () => this.modelChanged());
    ui.settingsToggle.addEventListener("click", () => this.toggle(ui.settings.hidden));
    ui.systemPrompt.addEventListener("input", () => {
      ui.settingsStatus.textContent = "";
    });
    ui.settingsClose.addEventListener("click", () => this.toggle(false));
    ui.settingsForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
  }

  labelDemo() {
    if (!this.demoOption) return;
    const { option, label } = this.demoOption;
    option.textContent = this.narrow.matches ? label : format(this.strings.demoModel, { model: label });
  }

  get model() {
    return this.ui.model.value;
  }

  showDemoBadge() {
    this.ui.demoBadge.hidden = this.ui.model.value !== this.config.demo_model;
  }

  showSystemPromptSet() {
    this.ui.settingsToggle.classList.toggle("active", Boolean(this.ui.systemPrompt.value.trim()));
    this.ui.settingsStatus.textContent = "";
  }

  // Those of a conversation opened.
  show(conversation) {
    if (conversation.model_offered === false) {
      this.showRetired(conversation.model);
    } else {
      this.showRetired(null);
      const offer = offerOf(this.config.models, conversation.model);
      this.ui.model.value = offer ? offer.id : this.config.default_model;
    }
    this.showDemoBadge();
    this.ui.systemPrompt.value = conversation.system_prompt;
    this.showSystemPromptSet();
    this.showDownloads(conversation.id);
  }

  // A conversation whose model the operator has since disabled or removed (`model`; null: it
  // is offered) reads as before, but the server answers it only with a model the person
  // picks: until then the picker shows no model, the notice says why, and send waits. It
  // would otherwise look as if the default model had answered it.
  showRetired(model) {
    this.retiredModel = model;
    if (model) {
      this.ui.model.prepend(this.placeholder);
      this.ui.model.value = "";
      this.retiredNote = format(this.strings.modelRetired, { model });
      this.notice.show(this.retiredNote);
    } else {
      this.placeholder.remove();
      // Only its own words: the notice may say something else meanwhile (a failed request).
      if (this.retiredNote && this.notice.text === this.retiredNote) this.notice.clear();
      this.retiredNote = "";
    }
    this.composer.setSendable(!model);
  }

  // Those of a new conversation.
  reset() {
    this.showRetired(null);
    this.ui.model.value = this.config.default_model;
    this.showDemoBadge();
    this.draftSystemPrompt = "";
    this.ui.systemPrompt.value = "";
    this.showSystemPromptSet();
    this.showDownloads(null);
  }

  async modelChanged() {
    // A model picked: the conversation goes on with it (every send names it, even if this
    // PATCH fails).
    if (this.retiredModel) this.showRetired(null);
    this.showDemoBadge();
    const id = this.currentId();
    if (!id) return;
    try {
      await json("PATCH", `/api/chats/${id}/`, { model: this.ui.model.value });
    } catch (error) {
      this.notice.failed(error);
    }
  }

  // The conversation's downloads (GET /api/chats/<id>/export/); a new one (null) has none yet.
  showDownloads(id) {
    this.ui.exportLinks.hidden = !id;
    if (id) {
      this.ui.exportMarkdown.href = `/api/chats/${id}/export/?format=markdown`;
      this.ui.exportJson.href = `/api/chats/${id}/export/?format=json`;
    }
  }

  toggle(open) {
    if (open) this.showDownloads(this.currentId());
    this.ui.settings.hidden = !open;
    this.ui.settingsToggle.setAttribute("aria-expanded", String(open));
    if (open) this.ui.systemPrompt.focus();
  }

  async save() {
    const ui = this.ui;
    const max = this.config.max_system_prompt_chars;
    const prompt = ui.systemPrompt.value;
    if (length(prompt) > max) {
      ui.settingsStatus.textContent = format(this.strings.tooLong, { max });
      return;
    }
    const id = this.currentId();
    if (id) {
      try {
        await json("PATCH", `/api/chats/${id}/`, { system_prompt: prompt });
      } catch (error) {
        ui.settingsStatus.textContent = this.notice.describe(error);
        return;
      }
    } else {
      this.draftSystemPrompt = prompt;
    }
    this.showSystemPromptSet();
    ui.settingsStatus.textContent = this.strings.saved;
  }
}
