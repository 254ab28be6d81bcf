// The person's token budget, in a quiet corner of the sidebar: shown only when a quota applies
// to them (GET /api/usage/), and marked when little of it is left.
import { json } from "./api.js";
import { format } from "./text.js";

// Warn when less than this share of a quota is left.
const LOW = 0.1;

// The words for a usage summary (docs/api.md), or null when no quota applies; pure, for tests.
export function describeBudget(usage, strings) {
  const periods = [
    ["month", strings.budgetMonth],
    ["today", strings.budgetToday],
  ].filter(([name]) => usage[name] && usage[name].quota);
  if (!periods.length) return null;
  // The period with the least left says the most.
  const [name, template] = periods
    .map(([name, template]) => [name, template, usage[name].remaining / usage[name].quota])
    .sort((a, b) => a[2] - b[2])[0];
  const period = usage[name];
  const low = period.remaining / period.quota < LOW;
  const numbers = { used: period.tokens.toLocaleString(), quota: period.quota.toLocaleString() };
  return { text: format(template, numbers), low, warning: low ? format(strings.budgetLow, numbers) : "" };
}

export class Budget {
  constructor(element, { strings }) {
    this.element = element;
    this.strings = strings;
  }

  async refresh() {
    let usage;
    try {
      usage = await json("GET", "/api/usage/");
    } catch (error) {
      return; // the budget is a courtesy: the next refresh may do better
    }
    const words = describeBudget(usage, this.strings);
    this.element.hidden = !words;
    if (!words) return;
    this.element.textContent = words.low ? `${words.text} ${words.warning}` : words.text;
    this.element.classList.toggle("low", words.low);
  }
}
