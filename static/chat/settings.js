// The conversation's settings in its header: the model picker (with the demo model's badge)
// and the system prompt panel. A new conversation's choices are kept here until its first
// message creates it.
import { json } from "./api.js";
import { format, length } from "./text.js";

export class Settings {
  // currentId(): the open conversation's id, null for a new one.
  constructor({ elements, config, notice, currentId }) {
    this.ui = elements;
    this.config = config;
    this.strings = config.strings;
    this.notice = notice;
    this.currentId = currentId;
    // A new conversation's system prompt, kept until the conversation is created.
    this.draftSystemPrompt = "";

    const ui = elements;
    for (const model of config.models) {
      const option = document.createElement("option");
      option.value = model;
      option.textContent = model === config.demo_model ? format(this.strings.demoModel, { model }) : model;
      ui.model.append(option);
    }
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
    const { models, default_model: defaultModel } = this.config;
    this.ui.model.value = models.includes(conversation.model) ? conversation.model : defaultModel;
    this.showDemoBadge();
    this.ui.systemPrompt.value = conversation.system_prompt;
    this.showSystemPromptSet();
  }

  // Those of a new conversation.
  reset() {
    this.ui.model.value = this.config.default_model;
    this.showDemoBadge();
    this.draftSystemPrompt = "";
    this.ui.systemPrompt.value = "";
    this.showSystemPromptSet();
  }

  async modelChanged() {
    this.showDemoBadge();
    const id = this.currentId();
    if (!id) return;
    try {
      await json("PATCH", `/api/chats/${id}/`, { model: this.ui.model.value });
    } catch (error) {
      this.notice.failed(error);
    }
  }

  toggle(open) {
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
