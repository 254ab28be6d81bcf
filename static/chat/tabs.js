// The page's tabs in one browser tell each other when a conversation changed (a turn started
// or ended in one of them), so that each shows it without a reload: the others refresh their
// sidebar, and the one showing that conversation loads it again and follows its live answer.
// Tabs of other browsers or devices are not told: the server refuses their stale sends (409).

export class Tabs {
  // changed(conversationId, kind): called when another tab says so; kind "turn" (an answer
  // started: its stream can be followed) or "ended". `owner`: the person's
  // username, so that a tab never hears another account's changes.
  constructor(owner, changed) {
    this.channel = null;
    try {
      this.channel = new BroadcastChannel(`chat:${owner}`);
    } catch (e) {
      return; // an old browser: each tab shows what it loaded
    }
    this.channel.addEventListener("message", (event) => {
      if (event.data && event.data.conversation) changed(event.data.conversation, event.data.kind);
    });
  }

  // Tells the other tabs (never this one) that conversation `id` changed.
  changed(id, kind) {
    if (this.channel && id) this.channel.postMessage({ conversation: id, kind });
  }
}
