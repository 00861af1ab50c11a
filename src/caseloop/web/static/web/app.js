// caseloop: tell the user when an htmx request was refused or never reached the server.
// (A refused form comes back as 409/422 and is swapped in with its errors; see base.html.)
(function () {
  "use strict";

  var hideTimer = null;

  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) {
      return;
    }
    box.textContent = text;
    box.hidden = false;
    window.clearTimeout(hideTimer);
    hideTimer = window.setTimeout(function () {
      box.hidden = true;
    }, 8000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) {
      toast("You may not do that on this case. Reload the page to see what you can do.");
    } else if (status === 404) {
      toast("That is no longer there. Reload the page.");
    } else {
      toast("Something went wrong on the server (" + status + "). Try again in a moment.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check the connection and try again.");
  });
})();
