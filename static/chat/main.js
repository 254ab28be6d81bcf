// The chat page: the sidebar of conversations, the open conversation, and the composer. This
// module alone reads the whole page (its elements and the configuration the server put in
// it) and connects the parts; each part gets only the elements and objects it works with.
// The page speaks the same HTTP API as scripts do (docs/api.md, through api.js). Everything
// that came from the server or the model is put in the page as text, or as Markdown made
// safe by markdown.js: never as HTML of its own.
import { Attachments, FileViewer } from "./attachments.js";
import { Budget } from "./budget.js";
import { Composer } from "./composer.js";
import { ConversationView } from "./conversation.js";
import { elements } from "./dom.js";
import { Drafts } from "./drafts.js";
import { SearchHits } from "./hits.js";
import { Notice } from "./notice.js";
import { Presets } from "./presets.js";
import { Scroll } from "./scroll.js";
import { Settings } from "./settings.js";
import { ShareBox } from "./share.js";
import { installShortcuts } from "./shortcuts.js";
import { Sidebar } from "./sidebar.js";
import { Tabs } from "./tabs.js";

const config = JSON.parse(document.getElementById("chat-config").textContent);
const strings = config.strings;

// Shown until the page's modules run (templates/chat/chat.html).
document.getElementById("boot-message").remove();

const ui = elements([
  "new-chat", "new-chat-header", "close-sidebar", "open-sidebar", "backdrop", "search", "conversations",
  "conversations-empty", "load-more", "shortcuts-button", "chat-title", "model", "demo-badge", "settings-toggle",
  "settings", "settings-form", "system-prompt", "temperature", "max-tokens", "settings-status", "settings-close",
  "scroller", "welcome", "messages", "jump", "notice", "composer", "prompt", "send", "stop", "confirm-dialog",
  "confirm-text", "shortcuts-dialog", "budget", "skip-link", "export-links", "export-markdown", "export-json",
  "archived-toggle", "share-box", "share-shared", "share-url", "share-copy", "share-stop", "share-author", "share-make",
  "presets", "greeting", "preset-box", "preset-name", "preset-save", "attach", "attach-input", "files", "file-dialog",
  "file-dialog-title", "file-dialog-image", "file-dialog-text", "file-dialog-download", "hits-box", "hits", "hits-empty",
  "hits-more",
]);

const notice = new Notice(ui.notice, { strings, loginUrl: config.login_url });
notice.watch(window);

const scroll = new Scroll({ scroller: ui.scroller, jump: ui.jump, messages: ui.messages });

// The parts refer to each other through these: each is made before any event can call it.
let conversation = null;

function localStorageOrNull() {
  try {
    return window.localStorage;
  } catch (e) {
    return null; // refused by the browser's settings
  }
}

const attachments = new Attachments({
  elements: { composer: ui.composer, prompt: ui.prompt, attach: ui.attach, attachInput: ui.attachInput, files: ui.files },
  strings,
  notice,
  maxFiles: config.max_files_per_message,
});

const viewer = new FileViewer({
  elements: {
    fileDialog: ui.fileDialog,
    fileDialogTitle: ui.fileDialogTitle,
    fileDialogImage: ui.fileDialogImage,
    fileDialogText: ui.fileDialogText,
    fileDialogDownload: ui.fileDialogDownload,
  },
  strings,
  notice,
});

const composer = new Composer({
  elements: { composer: ui.composer, prompt: ui.prompt, send: ui.send, stop: ui.stop },
  attachments,
  send: (content, files) => conversation.send(content, files),
  busy: () => conversation.streaming,
  stop: () => conversation.stop(),
  drafts: new Drafts(localStorageOrNull(), config.username),
  currentId: () => conversation.id,
});

const shareBox = new ShareBox({
  elements: {
    shareBox: ui.shareBox,
    shareShared: ui.shareShared,
    shareUrl: ui.shareUrl,
    shareCopy: ui.shareCopy,
    shareStop: ui.shareStop,
    shareAuthor: ui.shareAuthor,
    shareMake: ui.shareMake,
  },
  strings,
  notice,
});

const settings = new Settings({
  elements: {
    model: ui.model,
    demoBadge: ui.demoBadge,
    settings: ui.settings,
    settingsToggle: ui.settingsToggle,
    settingsForm: ui.settingsForm,
    systemPrompt: ui.systemPrompt,
    temperature: ui.temperature,
    maxTokens: ui.maxTokens,
    settingsStatus: ui.settingsStatus,
    settingsClose: ui.settingsClose,
    exportLinks: ui.exportLinks,
    exportMarkdown: ui.exportMarkdown,
    exportJson: ui.exportJson,
  },
  config,
  notice,
  composer,
  shareBox,
  currentId: () => conversation.id,
});

settings.presets = new Presets({
  elements: {
    presets: ui.presets,
    greeting: ui.greeting,
    presetBox: ui.presetBox,
    presetName: ui.presetName,
    presetSave: ui.presetSave,
    settingsStatus: ui.settingsStatus,
    confirmDialog: ui.confirmDialog,
    confirmText: ui.confirmText,
  },
  strings,
  notice,
  settings,
  presets: config.presets,
});

const hits = new SearchHits({
  elements: { hitsBox: ui.hitsBox, hits: ui.hits, hitsEmpty: ui.hitsEmpty, hitsMore: ui.hitsMore },
  strings,
  notice,
  hooks: { open: (id, messageId) => conversation.open(id, { message: messageId }) },
});

const sidebar = new Sidebar({
  elements: {
    conversations: ui.conversations,
    conversationsEmpty: ui.conversationsEmpty,
    loadMore: ui.loadMore,
    archivedToggle: ui.archivedToggle,
    search: ui.search,
    openSidebar: ui.openSidebar,
    closeSidebar: ui.closeSidebar,
    backdrop: ui.backdrop,
    confirmDialog: ui.confirmDialog,
    confirmText: ui.confirmText,
  },
  strings,
  notice,
  hits,
  hooks: {
    currentId: () => conversation.id,
    isShown: (id) => id === conversation.id && Boolean(conversation.loaded),
    open: (id) => conversation.open(id),
    deleted: (id) => {
      if (id === conversation.id) conversation.startNew();
    },
    titleChanged: (id, title) => conversation.titleChanged(id, title),
  },
});

const budget = new Budget(ui.budget, { strings });

const tabs = new Tabs(config.username, (id, kind) => conversation.changedElsewhere(id, kind));

conversation = new ConversationView({
  elements: { messages: ui.messages, welcome: ui.welcome, title: ui.chatTitle },
  config,
  notice,
  scroll,
  composer,
  settings,
  sidebar,
  budget,
  tabs,
  viewer,
});

window.addEventListener("popstate", () => conversation.showLocation());
ui.newChat.addEventListener("click", () => conversation.startNew());
ui.newChatHeader.addEventListener("click", () => conversation.startNew());
ui.shortcutsButton.addEventListener("click", () => ui.shortcutsDialog.showModal());
// Without the address's #prompt, which would stay in the history.
ui.skipLink.addEventListener("click", (event) => {
  event.preventDefault();
  composer.focus();
});

installShortcuts(document, {
  newConversation: () => conversation.startNew(),
  search: () => sidebar.focusSearch(),
  showShortcuts: () => ui.shortcutsDialog.showModal(),
  focusPrompt: () => composer.focus(),
  sidebarOpen: () => sidebar.isOpen,
  closeSidebar: () => sidebar.close(),
  streaming: () => conversation.streaming,
  stop: () => conversation.stop(),
});

// --- Start ----------------------------------------------------------------------------------

sidebar.load().catch((error) => notice.failed(error));
budget.refresh();
if (conversation.id) conversation.open(conversation.id, { push: false });
else conversation.startNew({ push: false });
composer.focus();
