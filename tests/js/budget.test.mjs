import assert from "node:assert/strict";
import { test } from "node:test";

import { describeBudget } from "../../static/chat/budget.js";

const strings = {
  budgetToday: "Today: {used} of {quota} tokens",
  budgetMonth: "This month: {used} of {quota} tokens",
  budgetLow: "Almost all used.",
};
const period = (tokens, quota) => ({ tokens, quota, remaining: quota === null ? null : Math.max(quota - tokens, 0) });

test("no budget is shown when no quota applies", () => {
  assert.equal(describeBudget({ today: period(500, null), month: period(900, null) }, strings), null);
});

test("the period with the least left is the one shown", () => {
  const words = describeBudget({ today: period(100, 1000), month: period(9000, 10000) }, strings);
  assert.equal(words.text, `This month: ${(9000).toLocaleString()} of ${(10000).toLocaleString()} tokens`);
  assert.equal(words.low, false);
  assert.equal(describeBudget({ today: period(900, 1000), month: period(1000, 100000) }, strings).text,
    "Today: 900 of 1,000 tokens".replace("1,000", (1000).toLocaleString()));
});

test("less than a tenth left is marked low, with a warning", () => {
  const words = describeBudget({ today: period(950, 1000), month: period(0, null) }, strings);
  assert.equal(words.low, true);
  assert.equal(words.warning, "Almost all used.");
  assert.equal(describeBudget({ today: period(899, 1000), month: period(0, null) }, strings).low, false);
});
