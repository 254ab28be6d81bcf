// What an answer cost, told in its action row: its tokens (the prompt, which is the question
// with the history sent, plus the answer's; "≈" when the provider reported none and they were
// estimated), the time to its first token, how long it took, and what it cost at its model's
// prices when the operator set them (docs/api.md, GET /api/models/). Free of the DOM
// (tests/js/facts.test.mjs runs it in Node).
import { format } from "./text.js";

const MILLION = 1_000_000;

function seconds(ms) {
  return (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);
}

// The cost of `prompt` and `completion` tokens at `offer`'s prices, or null without prices.
export function costOf(offer, prompt, completion) {
  if (!offer || (offer.input_price == null && offer.output_price == null)) return null;
  return (prompt * Number(offer.input_price || 0) + completion * Number(offer.output_price || 0)) / MILLION;
}

export function money(amount, currency, locale) {
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency, maximumSignificantDigits: 2 }).format(amount);
  } catch (e) {
    // A currency that is no ISO 4217 code (CHAT_CURRENCY is the operator's word): as it is.
    return `${Number(amount.toPrecision(2))} ${currency}`;
  }
}

// The facts of a finished `message` (as the API gives it) as one short line, "" when there
// are none; `offer` is its model's (of config.models), or null.
export function answerFacts(message, offer, { strings, currency, locale }) {
  const parts = [];
  const usage = message.usage || {};
  const counted = usage.prompt_tokens != null && usage.completion_tokens != null;
  const about = usage.estimated ? "≈ " : "";
  if (counted) {
    parts.push(about + format(strings.tokensUsed, { prompt: usage.prompt_tokens, completion: usage.completion_tokens }));
  }
  if (message.first_token_ms != null) parts.push(format(strings.firstToken, { seconds: seconds(message.first_token_ms) }));
  if (message.duration_ms != null) parts.push(format(strings.duration, { seconds: seconds(message.duration_ms) }));
  const cost = counted ? costOf(offer, usage.prompt_tokens, usage.completion_tokens) : null;
  if (cost != null) parts.push(about + money(cost, currency, locale));
  return parts.join(" · ");
}
