// On every page, loaded in <head>: the colour theme (the system's, unless the person chose
// one with the toggle, remembered in localStorage) and the language picker.
"use strict";

(function () {
  const root = document.documentElement;
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
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
    const system = systemDark.matches ? "dark" : "light";
    try {
      // Choosing what the system has means following the system again.
      if (next === system) localStorage.removeItem("theme");
      else localStorage.setItem("theme", next);
    } catch (e) {
      root.dataset.theme = next;
      return;
    }
    apply();
  }

  apply();
  systemDark.addEventListener("change", apply);
  window.addEventListener("storage", (event) => {
    if (event.key === "theme") apply();
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
