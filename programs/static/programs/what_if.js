// The what-if run page: while the run is queued or running, ask its status every two
// seconds and move the progress bar; once it has finished, load the page again, which then
// shows the result (or the error). A static file, so the Content-Security-Policy allows it.
(function () {
  var box = document.getElementById("what-if-status");
  if (!box || box.dataset.finished === "1") {
    return;
  }
  var bar = document.getElementById("what-if-progress");
  var text = document.getElementById("what-if-progress-text");
  var label = document.getElementById("what-if-status-label");

  function ask() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (status) {
        if (status.finished) {
          window.location.reload();
          return;
        }
        bar.value = status.progress;
        text.textContent = status.progress + " %";
        label.textContent = status.status_label;
        window.setTimeout(ask, 2000);
      })
      .catch(function () {
        window.setTimeout(ask, 5000);
      });
  }

  window.setTimeout(ask, 1000);
})();
