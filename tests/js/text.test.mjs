import assert from "node:assert/strict";
import { test } from "node:test";

import { format, length } from "../../static/chat/text.js";

test("format fills the placeholders it has values for and leaves the others", () => {
  assert.equal(format("Delete “{title}”?", { title: "Notes" }), "Delete “Notes”?");
  assert.equal(format("{max} characters, {max} at most", { max: 4000 }), "4000 characters, 4000 at most");
  assert.equal(format("{model} (demo)", {}), "{model} (demo)");
  assert.equal(format("{a}{b}", { a: 0, b: "" }), "0");
});

test("length counts code points, as the server does, not UTF-16 units", () => {
  assert.equal(length(""), 0);
  assert.equal(length("hello"), 5);
  assert.equal(length("你好"), 2);
  assert.equal(length("🚀"), 1);
  assert.equal("🚀".length, 2);
  assert.equal(length("a🚀b👍🏽"), 5); // the skin tone is a code point of its own
});
