// On every page, loaded in <head>: the colour theme (the system's, unless the person chose
// one with the toggle, remembered in localStorage) and the language picker. On a logged-in
// person's pages, the theme saved in their settings (data-theme-choice: system, light or
// dark, the words of Profile.Theme) is this browser's too, and the toggle saves its choice
// there (PATCH data-account-url), so that it follows them to their other devices.
"use strict";

(function () {
  const root = document.documentElement;
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

  function remember(choice) {
    try {
      if (choice === "light" || choice === "dark") localStorage.setItem("theme", choice);
      else localStorage.removeItem("theme");
      return true;
    } catch (e) {
      return false; // storage disabled: the page alone shows it
    }
  }

  function saveToAccount(choice) {
    const url = root.dataset.accountUrl;
    if (!url) return;
    root.dataset.themeChoice = choice;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    // Best effort: this browser shows the choice whatever the server answers.
    fetch(url, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", "X-CSRFToken": match ? decodeURIComponent(match[1]) : "" },
      body: JSON.stringify({ theme: choice }),
      credentials: "same-origin",
    }).catch(() => {});
  }

  if (root.dataset.themeChoice) remember(root.dataset.themeChoice);

  function chosen() {
    if (root.dataset.themeChoice) return root.dataset.themeChoice;
    try {
      return localStorage.getItem("theme");
    } catch (e) {
      return null; // storage disabled: follow the system
    }
  }

  function current() {
    const theme = chosen();
    if (theme === "light" || theme === "dark") return theme;
    return systemDark.matches ? "dark" : "light";
  }

  function apply() {
    const theme = current();
    root.dataset.theme = theme;
    // The code highlighting style that matches the theme.
    for (const link of document.querySelectorAll("link[data-theme-css]")) {
      link.media = link.dataset.themeCss === theme ? "all" : "not all";
    }
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      const label = theme === "dark" ? button.dataset.labelLight : button.dataset.labelDark;
      button.setAttribute("aria-label", label);
      button.title = label;
    }
  }

  function toggle() {
    const next = current() === "dark" ? "light" : "dark";
    // Choosing what the system has means following the system again.
    const choice = next === (systemDark.matches ? "dark" : "light") ? "system" : next;
    saveToAccount(choice);
    if (!remember(choice) && !root.dataset.themeChoice) {
      root.dataset.theme = next;
      return;
    }
    apply();
  }

  apply();
  systemDark.addEventListener("change", apply);
  window.addEventListener("storage", (event) => {
    if (event.key !== "theme") return;
    // Toggled in another tab, which saved it to the account.
    if (root.dataset.themeChoice) root.dataset.themeChoice = event.newValue || "system";
    apply();
  });

  document.addEventListener("DOMContentLoaded", () => {
    apply();
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      button.addEventListener("click", toggle);
    }
    // With scripts, picking a language applies it at once (without, the form's button does).
    for (const select of document.querySelectorAll("select[data-autosubmit]")) {
      select.form.classList.add("autosubmit");
      select.addEventListener("change", () => {
        // Come back to where the person is now: the chat page moves between conversations
        // without loading a new page.
        select.form.elements.next.value = window.location.pathname + window.location.search;
        select.form.submit();
      });
    }
  });
})();
