// Choosing a language or a program submits its form at once (no inline handlers, so the
// Content-Security-Policy needs none); without JavaScript the form's own button does it.
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
