// The DOM-free helpers of issue 18's fixes: drafts per conversation, the opened conversation
// listed at its place, and which messages may need folding.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Drafts } from "../../static/chat/drafts.js";
import { Listing } from "../../static/chat/listing.js";
import { mayBeTall } from "../../static/chat/text.js";

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

test("a draft belongs to its conversation, a new chat's to 'new', and to its person", () => {
  const storage = new MemoryStorage();
  const drafts = new Drafts(storage, "ann");
  drafts.set(null, "new chat's");
  drafts.set(7, "seven's");
  assert.equal(drafts.get(null), "new chat's");
  assert.equal(drafts.get(7), "seven's");
  assert.equal(drafts.get(8), "");
  assert.equal(new Drafts(storage, "bob").get(7), "");
  drafts.clear(7);
  assert.equal(drafts.get(7), "");
  assert.deepEqual([...storage.items.keys()], ["draft:ann:new"]);
});

test("drafts live in the page's memory when storage is refused", () => {
  const refusing = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("QuotaExceededError");
    },
    removeItem() {},
  };
  for (const storage of [refusing, null]) {
    const drafts = new Drafts(storage, "ann");
    drafts.set(3, "kept");
    assert.equal(drafts.get(3), "kept");
  }
});

const at = (minute) => `2026-01-01T10:${String(minute).padStart(2, "0")}:00+00:00`;

test("a conversation opened from further down is listed at its place, and stays there", () => {
  const listing = new Listing();
  listing.setFirstPage({ results: [{ id: 9, updated_at: at(9) }, { id: 8, updated_at: at(8) }], next_page: 2 });
  assert.equal(listing.include({ id: 2, title: "Old", updated_at: at(2), messages: [] }), true);
  assert.equal(listing.include({ id: 8, updated_at: at(8) }), false);
  assert.deepEqual(
    listing.loaded.map((item) => item.id),
    [9, 8, 2],
  );
  assert.equal(listing.loaded[2].messages, undefined);
  listing.addPage({ results: [{ id: 5, updated_at: at(5) }, { id: 2, updated_at: at(2) }], next_page: 3 });
  assert.deepEqual(
    listing.loaded.map((item) => item.id),
    [9, 8, 5, 2],
  );
  listing.setFirstPage({ results: [{ id: 2, updated_at: at(30) }, { id: 9, updated_at: at(9) }], next_page: 2 });
  assert.deepEqual(
    listing.loaded.map((item) => item.id),
    [2, 9, 8, 5],
  );
});

test("only a message of more than about a dozen wide lines may need folding", () => {
  assert.equal(mayBeTall("short"), false);
  assert.equal(mayBeTall("x".repeat(12 * 70)), false);
  assert.equal(mayBeTall("x".repeat(12 * 70 + 1)), true);
  assert.equal(mayBeTall(Array(12).fill("a").join("\n")), false);
  assert.equal(mayBeTall(Array(13).fill("a").join("\n")), true);
  assert.equal(mayBeTall(`${"y".repeat(200)}\n`.repeat(5)), true);
});
