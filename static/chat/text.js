// String helpers of the page, free of the DOM (tests/js/text.test.mjs runs them in Node).

// "{name}" placeholders of a translated string, filled from `values`; unknown ones stay.
export function format(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// A text's length as the server counts it, in code points (docs/api.md): for event ids and
// the limits on what the person types.
export function length(text) {
  let count = 0;
  for (const _ of text) count++; // eslint-disable-line no-unused-vars
  return count;
}

// Whether a message of the person may be taller than its folded height (chat.css,
// .bubble.folded): more than about a dozen lines of a wide bubble. The page then folds it
// and measures: only these few are measured, not every message of a long conversation.
export function mayBeTall(text, { lines = 12, width = 70 } = {}) {
  if (text.length <= lines * width && text.split("\n").length <= lines) return false;
  let count = 0;
  for (const line of text.split("\n")) {
    count += Math.max(1, Math.ceil(line.length / width));
    if (count > lines) return true;
  }
  return false;
}
