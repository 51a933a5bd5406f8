// The segment page's "Count members": while staff edit the conditions, the form as it
// stands is posted to the count address (data-count-url, which saves nothing) and the
// answer shown: the number of members, or what is still wrong. A file, not an inline
// script, so the Content-Security-Policy needs no exception. The admin loads it in the
// page's head: it starts once the page is read.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var box = document.getElementById("segment-count");
  if (!box) { return; }
  var form = box.closest("form");
  var value = document.getElementById("segment-count-value");
  var errors = document.getElementById("segment-count-errors");
  var button = document.getElementById("segment-count-button");
  var timer = null;
  var latest = 0;

  function show(answer) {
    errors.replaceChildren();
    if (typeof answer.count === "number") {
      value.textContent = answer.count.toLocaleString(document.documentElement.lang || "de");
      errors.hidden = true;
      return;
    }
    value.textContent = "\u2013";
    (answer.errors || [box.dataset.failed]).forEach(function (message) {
      var item = document.createElement("li");
      item.textContent = message;
      errors.appendChild(item);
    });
    errors.hidden = false;
  }

  function count() {
    var ticket = ++latest;  // only the newest answer is shown
    box.setAttribute("aria-busy", "true");
    fetch(box.dataset.countUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest" }
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) { if (ticket === latest) { show(answer); } })
      .catch(function () { if (ticket === latest) { show({}); } })
      .finally(function () { if (ticket === latest) { box.removeAttribute("aria-busy"); } });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(count, 500);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  document.addEventListener("formset:added", soon);
  document.addEventListener("formset:removed", soon);
  button.addEventListener("click", count);
  if (box.hasAttribute("data-count-now")) { count(); }
});
