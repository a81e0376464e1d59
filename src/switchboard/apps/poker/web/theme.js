// Loaded as a classic script in <head>, before the page is drawn: applies the saved
// theme ("light" or "dark"; nothing saved follows the system's) so that a dark page
// does not flash white. The settings (common.js) change it.
(function () {
  try {
    var theme = localStorage.getItem("poker:theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (error) {
    // Storage blocked: the system theme.
  }
})();
