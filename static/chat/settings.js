// The conversation's settings in its header: the model picker (with the demo model's badge)
// and the panel of its system prompt, temperature and longest answer. A new conversation's
// choices are kept here until its first message creates it.
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
  constructor({ elements, config, notice, composer, shareBox, currentId }) {
    this.ui = elements;
    this.config = config;
    this.strings = config.strings;
    this.notice = notice;
    this.composer = composer;
    this.currentId = currentId;
    this.shareBox = shareBox;
    // A new conversation's settings, kept until the conversation is created (POST /api/chats/):
    // its system prompt starts as the person's custom instructions (their settings page).
    this.draft = { system_prompt: config.custom_instructions || "", temperature: null, max_tokens: null };
    // The saved model of the conversation opened when it is no longer offered, else null.
    this.retiredModel = null;
    this.retiredNote = "";
    // The presets of the welcome screen (presets.js), told when a new chat starts and which
    // conversation is shown; set by main.js once both are made.
    this.presets = null;

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
    for (const input of [ui.systemPrompt, ui.temperature, ui.maxTokens]) {
      input.addEventListener("input", () => {
        ui.settingsStatus.textContent = "";
      });
    }
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

  // The toggle is marked while any setting of the panel differs from the model's default.
  showSettingsSet() {
    const ui = this.ui;
    const set = Boolean(ui.systemPrompt.value.trim()) || ui.temperature.value !== "" || ui.maxTokens.value !== "";
    ui.settingsToggle.classList.toggle("active", set);
    ui.settingsStatus.textContent = "";
  }

  // The longest answer the picked model gives, or null when it is not known.
  get outputLimit() {
    const offer = offerOf(this.config.models, this.ui.model.value);
    return (offer && offer.max_output_tokens) || null;
  }

  showOutputLimit() {
    const limit = this.outputLimit;
    if (limit) this.ui.maxTokens.max = String(limit);
    else this.ui.maxTokens.removeAttribute("max");
  }

  showNumbers({ temperature, max_tokens: maxTokens }) {
    this.ui.temperature.value = temperature == null ? "" : String(temperature);
    this.ui.maxTokens.value = maxTokens == null ? "" : String(maxTokens);
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
    this.showOutputLimit();
    this.ui.systemPrompt.value = conversation.system_prompt;
    this.showNumbers(conversation);
    this.showSettingsSet();
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
    this.showOutputLimit();
    this.draft = { system_prompt: this.config.custom_instructions || "", temperature: null, max_tokens: null };
    this.ui.systemPrompt.value = this.draft.system_prompt;
    this.showNumbers(this.draft);
    this.showSettingsSet();
    this.showDownloads(null);
    if (this.presets) this.presets.reset();
  }

  // A preset picked for the new conversation: its model (when the person may use it, else
  // their default, as the server does), system prompt and temperature, kept in the draft
  // until the first message creates the conversation.
  applyPreset(preset) {
    const offer = preset.model ? offerOf(this.config.models, preset.model) : null;
    this.ui.model.value = offer ? offer.id : this.config.default_model;
    this.showDemoBadge();
    this.showOutputLimit();
    this.draft = { ...this.draft, system_prompt: preset.system_prompt, temperature: preset.temperature };
    this.ui.systemPrompt.value = preset.system_prompt;
    this.showNumbers(this.draft);
    this.showSettingsSet();
  }

  async modelChanged() {
    // A model picked: the conversation goes on with it (every send names it, even if this
    // PATCH fails).
    if (this.retiredModel) this.showRetired(null);
    this.showDemoBadge();
    this.showOutputLimit();
    const id = this.currentId();
    if (!id) return;
    try {
      await json("PATCH", `/api/chats/${id}/`, { model: this.ui.model.value });
    } catch (error) {
      this.notice.failed(error);
    }
  }

  // The conversation's downloads (GET /api/chats/<id>/export/); a new one (null) has none yet.
  // And its share link, read when the panel is open.
  showDownloads(id) {
    this.ui.exportLinks.hidden = !id;
    if (id) {
      this.ui.exportMarkdown.href = `/api/chats/${id}/export/?format=markdown`;
      this.ui.exportJson.href = `/api/chats/${id}/export/?format=json`;
    }
    this.shareBox.show(id, { load: !this.ui.settings.hidden });
    if (this.presets) this.presets.showSaving(id);
  }

  toggle(open) {
    this.ui.settings.hidden = !open;
    if (open) this.showDownloads(this.currentId());
    this.ui.settingsToggle.setAttribute("aria-expanded", String(open));
    if (open) this.ui.systemPrompt.focus();
  }

  // The panel's values as the API takes them, or null (and the reason shown) when one is
  // out of its range. The server checks them again (chat/conversations.py).
  values() {
    const ui = this.ui;
    const t = this.strings;
    const max = this.config.max_system_prompt_chars;
    const prompt = ui.systemPrompt.value;
    const refuse = (text, input) => {
      ui.settingsStatus.textContent = text;
      if (input) input.focus();
      return null;
    };
    if (length(prompt) > max) return refuse(format(t.tooLong, { max }));
    // A number input's value is "" for what is no number (1e, --2): refused, not taken as unset.
    if (ui.temperature.validity.badInput) return refuse(t.temperatureInvalid, ui.temperature);
    if (ui.maxTokens.validity.badInput) return refuse(this.maxTokensInvalid(), ui.maxTokens);
    const temperature = ui.temperature.value === "" ? null : Number(ui.temperature.value);
    const maxTokens = ui.maxTokens.value === "" ? null : Number(ui.maxTokens.value);
    if (temperature !== null && !(temperature >= 0 && temperature <= 2)) {
      return refuse(t.temperatureInvalid, ui.temperature);
    }
    const limit = this.outputLimit;
    if (maxTokens !== null && !(Number.isInteger(maxTokens) && maxTokens >= 1 && (!limit || maxTokens <= limit))) {
      return refuse(this.maxTokensInvalid(), ui.maxTokens);
    }
    return { system_prompt: prompt, temperature, max_tokens: maxTokens };
  }

  maxTokensInvalid() {
    const limit = this.outputLimit;
    return limit ? format(this.strings.maxTokensOverLimit, { max: limit }) : this.strings.maxTokensInvalid;
  }

  async save() {
    const ui = this.ui;
    const values = this.values();
    if (!values) return;
    const id = this.currentId();
    if (id) {
      try {
        this.showNumbers(await json("PATCH", `/api/chats/${id}/`, values));
      } catch (error) {
        ui.settingsStatus.textContent = this.notice.describe(error);
        return;
      }
    } else {
      this.draft = values;
    }
    this.showSettingsSet();
    ui.settingsStatus.textContent = this.strings.saved;
  }
}
