// A shared conversation's page: each answer's text, escaped by the server, rendered with the
// chat's own sanitizing Markdown renderer; questions stay plain text, as in the chat.
import { render } from "./markdown.js";

for (const content of document.querySelectorAll(".message.assistant .content")) {
  render(content, content.textContent, { final: true });
}
