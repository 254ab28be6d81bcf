import assert from "node:assert/strict";
import { test } from "node:test";

import { Listing, groupOf } from "../../static/chat/listing.js";

const item = (id, title, updated_at = "2026-01-01T00:00:00Z") => ({ id, title, updated_at });

test("the first page fetched again comes first and keeps the later pages loaded", () => {
  const listing = new Listing();
  listing.setFirstPage({ results: [item(3, "c"), item(2, "b")], next_page: 2 });
  listing.addPage({ results: [item(2, "b"), item(1, "a")], next_page: null });
  assert.deepEqual(
    listing.loaded.map((entry) => entry.id),
    [3, 2, 1],
  );
  assert.equal(listing.nextPage, null);
  listing.setFirstPage({ results: [item(4, "d"), item(3, "c")], next_page: 2 });
  assert.deepEqual(
    listing.loaded.map((entry) => entry.id),
    [4, 3, 2, 1],
  );
  assert.equal(listing.nextPage, null, "the pages after the first are loaded already");
});

test("a search shows the loaded and found conversations whose title matches, newest first, once", () => {
  const listing = new Listing();
  listing.setFirstPage({ results: [item(5, "Paris trip", "2026-03-01"), item(4, "Other", "2026-02-01")] });
  listing.found = [item(5, "Paris trip", "2026-03-01"), item(1, "paris museums", "2026-01-01"), item(9, "", "2026-04-01")];
  listing.query = "  PARIS ";
  assert.deepEqual(
    listing.visible("New chat").map((entry) => entry.id),
    [5, 1],
  );
  listing.query = "new";
  assert.deepEqual(
    listing.visible("New chat").map((entry) => entry.id),
    [9],
    "an untitled conversation is found by the word shown for it",
  );
});

test("an update and a removal reach both the loaded and the found conversations", () => {
  const listing = new Listing();
  listing.setFirstPage({ results: [item(1, "old")] });
  listing.found = [item(1, "old"), item(2, "x")];
  listing.update({ id: 1, title: "new" });
  assert.equal(listing.find(1).title, "new");
  assert.equal(listing.found[0].title, "new");
  listing.remove(1);
  assert.equal(listing.find(1), undefined);
  assert.equal(listing.find(2).title, "x");
});

test("conversations are grouped by the local day they last changed", () => {
  const now = new Date(2026, 5, 15, 10, 0);
  const at = (days, hours = 9) => new Date(2026, 5, 15 - days, hours).toISOString();
  assert.equal(groupOf(at(0, 0), now), "today");
  assert.equal(groupOf(at(1, 23), now), "yesterday");
  assert.equal(groupOf(at(6), now), "previous7");
  assert.equal(groupOf(at(20), now), "previous30");
  assert.equal(groupOf(at(40), now), "older");
});

test("pinned conversations come first, then the most recently changed, and a pin re-sorts them", () => {
  const listing = new Listing();
  listing.setFirstPage({
    results: [
      { ...item(3, "old pinned", "2026-01-01"), pinned: true },
      item(2, "newest", "2026-03-01"),
      item(1, "older", "2026-02-01"),
    ],
  });
  listing.update({ id: 1, pinned: true });
  listing.resort();
  assert.deepEqual(
    listing.loaded.map((entry) => entry.title),
    ["older", "old pinned", "newest"],
  );
  // One opened from further down goes among the unpinned, at its time.
  listing.include({ ...item(7, "opened by address", "2026-02-15"), pinned: false });
  assert.deepEqual(
    listing.loaded.map((entry) => entry.id),
    [1, 3, 2, 7],
  );
});
