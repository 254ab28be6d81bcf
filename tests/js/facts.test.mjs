import assert from "node:assert/strict";
import { test } from "node:test";

import { answerFacts, costOf, money } from "../../static/chat/facts.js";

const strings = {
  tokensUsed: "{prompt} + {completion} tokens",
  firstToken: "first token {seconds} s",
  duration: "{seconds} s",
};
const priced = { id: "m", input_price: "2.5000", output_price: "10.0000" };
const answer = {
  usage: { prompt_tokens: 1200, completion_tokens: 300, estimated: false },
  first_token_ms: 420,
  duration_ms: 3100,
};

test("an answer's facts are its tokens, its times and its cost at its model's prices", () => {
  const facts = answerFacts(answer, priced, { strings, currency: "USD", locale: "en-US" });
  assert.equal(facts, "1200 + 300 tokens · first token 0.4 s · 3.1 s · $0.006");
});

test("estimated tokens and the cost from them are marked ≈", () => {
  const estimated = { ...answer, usage: { ...answer.usage, estimated: true } };
  const facts = answerFacts(estimated, priced, { strings, currency: "USD", locale: "en-US" });
  assert.equal(facts, "≈ 1200 + 300 tokens · first token 0.4 s · 3.1 s · ≈ $0.006");
});

test("without prices, or without usage, there is no cost; what is unknown is left out", () => {
  assert.equal(answerFacts(answer, { id: "m" }, { strings, currency: "USD", locale: "en" }).includes("$"), false);
  assert.equal(answerFacts(answer, null, { strings, currency: "USD", locale: "en" }).includes("$"), false);
  const refused = { usage: { prompt_tokens: null, completion_tokens: null }, first_token_ms: null, duration_ms: 80 };
  assert.equal(answerFacts(refused, priced, { strings, currency: "USD", locale: "en" }), "0.1 s");
  assert.equal(costOf({ input_price: "1", output_price: null }, 1_000_000, 5), 1);
});

test("a currency that is no ISO code is written after the amount", () => {
  assert.equal(money(0.000123, "credits", "en"), "0.00012 credits");
  assert.equal(money(1.5, "CNY", "zh-hans"), "¥1.5");
});
