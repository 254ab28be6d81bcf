// The conversation's scrolling: it follows the end while an answer grows, unless the person
// scrolled up to read, and then offers a button to jump back down.

export class Scroll {
  constructor({ scroller, jump, messages }) {
    this.scroller = scroller;
    this.jump = jump;
    this.messages = messages;
    // Whether the view follows the end of the conversation (the person has not scrolled up).
    this.stick = true;
    // Where the page itself last put the view. A scroll event comes a frame after the scroll
    // that caused it, often after the answer grew again: away from the end then, but not
    // moved up. Only a move up from there is the person's, and stops the following.
    this.top = scroller.scrollTop;
    scroller.addEventListener(
      "scroll",
      () => {
        const top = scroller.scrollTop;
        if (this.distanceFromBottom() < 12) this.stick = true;
        else if (top < this.top - 1) this.stick = false;
        this.top = top;
        jump.hidden = this.stick || !messages.childElementCount;
      },
      { passive: true },
    );
    jump.addEventListener("click", () => this.toBottom(true));
  }

  distanceFromBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight;
  }

  toBottom(smooth) {
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? "smooth" : "instant" });
    this.top = this.scroller.scrollTop;
    this.stick = true;
    this.jump.hidden = true;
  }

  // Shows `element` (a message a search found) in the middle of the view.
  toElement(element) {
    element.scrollIntoView({ block: "center", behavior: "instant" });
    this.top = this.scroller.scrollTop;
    this.stick = this.distanceFromBottom() < 12;
    this.jump.hidden = this.stick;
  }

  // Runs `change` (which alters the messages) so that the view stays at the end if it was
  // there, and otherwise stays exactly where the person is reading.
  keeping(change) {
    const top = this.scroller.scrollTop;
    change();
    if (this.stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    else this.scroller.scrollTop = top;
    this.top = this.scroller.scrollTop;
  }
}
