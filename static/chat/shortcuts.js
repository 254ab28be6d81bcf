// The keyboard shortcuts of the page (its shortcuts dialog lists them).

// actions: newConversation(), search(), showShortcuts(), focusPrompt(), sidebarOpen(),
// closeSidebar(), streaming(), stop().
export function installShortcuts(target, actions) {
  target.addEventListener("keydown", (event) => {
    const command = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (command && event.shiftKey && key === "o") {
      event.preventDefault();
      actions.newConversation();
    } else if (command && !event.shiftKey && key === "k") {
      event.preventDefault();
      actions.search();
    } else if (command && key === "/") {
      event.preventDefault();
      actions.showShortcuts();
    } else if (event.key === "Escape" && event.shiftKey) {
      event.preventDefault();
      actions.focusPrompt();
    } else if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      if (actions.sidebarOpen()) actions.closeSidebar();
      else if (actions.streaming()) {
        event.preventDefault();
        actions.stop();
      }
    }
  });
}
