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
