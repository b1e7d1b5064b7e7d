// Move focus to an error summary so keyboard and screen-reader users land on it after a reload.
var target = document.querySelector("[data-autofocus]");
if (target) { target.focus(); }
