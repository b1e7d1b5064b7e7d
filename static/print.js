// The print button on confirmation pages; kept in a file so the CSP can forbid inline script.
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
