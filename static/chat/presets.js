// Presets (docs/api.md, "Presets"): the staff's and the person's own, listed on a new chat's
// welcome screen. Picking one sets the new chat's model, system prompt and temperature (kept,
// like the rest of its settings, until its first message creates it) and shows its greeting,
// which lives in the page only: it is never saved in the conversation nor sent to the model.
// An open conversation's settings are saved as a preset of the person's own here, and their
// own presets deleted.
import { json } from "./api.js";
import { confirmDialog, iconButton } from "./dom.js";
import { format } from "./text.js";

export class Presets {
  // presets: the page configuration's list (GET /api/presets/), kept up to date here.
  constructor({ elements, strings, notice, settings, presets }) {
    this.ui = elements;
    this.strings = strings;
    this.notice = notice;
    this.settings = settings;
    this.list = presets;
    // The id of the preset the new chat starts from, or null.
    this.picked = null;
    elements.presets.addEventListener("click", (event) => this.clicked(event));
    elements.presetSave.addEventListener("click", () => this.saveCurrent());
    elements.presetName.addEventListener("keydown", (event) => {
      // Not the settings form's own submit (its Save).
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        this.saveCurrent();
      }
    });
    this.render();
  }

  render() {
    const t = this.strings;
    const items = this.list.map((preset) => {
      const item = document.createElement("div");
      item.className = preset.mine ? "preset mine" : "preset";
      const pick = document.createElement("button");
      pick.type = "button";
      pick.className = "preset-pick";
      pick.dataset.presetId = String(preset.id);
      pick.textContent = preset.name;
      pick.setAttribute("aria-pressed", String(this.picked === preset.id));
      item.append(pick);
      if (preset.mine) {
        const remove = iconButton("trash", format(t.deletePreset, { name: preset.name }), "delete-preset");
        remove.dataset.presetId = String(preset.id);
        item.append(remove);
      }
      return item;
    });
    this.ui.presets.replaceChildren(...items);
    this.ui.presets.hidden = items.length === 0;
  }

  clicked(event) {
    const button = event.target.closest("button[data-preset-id]");
    if (!button) return;
    const id = Number(button.dataset.presetId);
    if (button.dataset.action === "delete-preset") this.remove(id);
    else this.pick(id);
  }

  // Picked again: the new chat is back to the person's defaults.
  pick(id) {
    const preset = this.list.find((p) => p.id === id);
    if (!preset) return;
    if (this.picked === id) {
      this.settings.reset();
      return;
    }
    this.settings.applyPreset(preset);
    this.picked = id;
    this.ui.greeting.textContent = preset.greeting;
    this.ui.greeting.hidden = !preset.greeting;
    this.render();
  }

  // A new chat (or an open conversation): nothing picked.
  reset() {
    this.picked = null;
    this.ui.greeting.textContent = "";
    this.ui.greeting.hidden = true;
    this.render();
  }

  // The conversation `id` is shown (null: a new one, which has nothing to save yet).
  showSaving(id) {
    this.ui.presetBox.hidden = !id;
  }

  async saveCurrent() {
    const ui = this.ui;
    const t = this.strings;
    const name = ui.presetName.value.trim();
    if (!name) {
      ui.settingsStatus.textContent = t.presetNameNeeded;
      ui.presetName.focus();
      return;
    }
    const values = this.settings.values();
    if (!values) return;
    try {
      const preset = await json("POST", "/api/presets/", {
        name,
        system_prompt: values.system_prompt,
        temperature: values.temperature,
        model: this.settings.model || null,
      });
      this.list.push(preset);
      this.render();
      ui.presetName.value = "";
      ui.settingsStatus.textContent = format(t.presetSaved, { name: preset.name });
    } catch (error) {
      ui.settingsStatus.textContent = this.notice.describe(error);
    }
  }

  async remove(id) {
    const preset = this.list.find((p) => p.id === id);
    if (!preset) return;
    const text = format(this.strings.deletePresetConfirm, { name: preset.name });
    if (!(await confirmDialog(this.ui.confirmDialog, this.ui.confirmText, text))) return;
    try {
      await json("DELETE", `/api/presets/${id}/`);
    } catch (error) {
      if (error.status !== 404) {
        this.notice.failed(error);
        return;
      }
    }
    this.list = this.list.filter((p) => p.id !== id);
    if (this.picked === id) this.picked = null;
    this.render();
  }
}
