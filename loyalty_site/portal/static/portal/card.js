// The card page: the print button, and the rotating code for the till, fetched again when
// the next code is due so the code shown is always valid for a while, with a countdown.
// Without this script the page still works: reloading it shows a new code.
(function () {
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  var box = document.querySelector("[data-code-url]");
  if (!box) { return; }
  var qr = box.querySelector("[data-code-qr]");
  var digits = box.querySelector("[data-code-digits]");
  var left = box.querySelector("[data-code-left]");
  var status = box.querySelector("[data-code-status]");
  var expired = box.querySelector("[data-code-expired]");
  // Times on this device's clock, from the seconds the server counted: its clock may differ.
  var start = Date.now();
  var validUntil = start + Number(box.dataset.secondsLeft) * 1000;
  var nextAt = start + Number(box.dataset.refreshIn) * 1000;
  var loading = false;

  function show(data) {
    var now = Date.now();
    validUntil = now + data.seconds_left * 1000;
    nextAt = now + data.refresh_in * 1000;
    qr.innerHTML = data.svg;
    digits.replaceChildren.apply(digits, data.digits.map(function (group) {
      var span = document.createElement("span");
      span.textContent = group;
      return span;
    }));
    box.classList.remove("expired");
    status.hidden = false;
    expired.hidden = true;
    left.textContent = data.seconds_left;
  }

  function load() {
    loading = true;
    fetch(box.dataset.codeUrl, {credentials: "same-origin", cache: "no-store", headers: {Accept: "application/json"}})
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (response.redirected || !json) { window.location.reload(); throw new Error("signed out"); }
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(show)
      .catch(function () { nextAt = Date.now() + 5000; })  // offline: try again shortly
      .finally(function () { loading = false; });
  }

  function tick() {
    var now = Date.now();
    var seconds = Math.max(0, Math.ceil((validUntil - now) / 1000));
    left.textContent = seconds;
    if (seconds === 0) {
      box.classList.add("expired");
      status.hidden = true;
      expired.hidden = false;
    }
    if (now >= nextAt && !loading) { load(); }
  }

  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { tick(); } });
  tick();
})();
