// Copy and share buttons of the referral page; the page works without them.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    var field = document.getElementById(button.dataset.copy);
    field.select();
    var done = function () { document.getElementById("copy-status").textContent = button.dataset.done; };
    if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); }); }
    else { document.execCommand("copy"); done(); }
  });
});
document.querySelectorAll("[data-share]").forEach(function (link) {
  if (!navigator.share) { return; }
  link.addEventListener("click", function (event) {
    event.preventDefault();
    navigator.share({title: link.dataset.title, url: document.getElementById("referral-link").value}).catch(function () {});
  });
});
