// hindcast serve: the page's only script. It shows the copy buttons (hidden without script, where
// the command is still there to select) and puts a button's text on the clipboard.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.copy")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch (error) {
        button.textContent = "Copy failed: select the command instead";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
});
