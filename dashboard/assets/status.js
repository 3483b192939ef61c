// The status page says when it was made (body data-generated). A copy that
// is more than three minutes old, such as the static export a bucket keeps
// serving while the controller is down, says "as of" that time, so that
// nobody reads an old "All systems operational" as news.
(function () {
  "use strict";
  var made = Date.parse(document.body.dataset.generated);
  if (isNaN(made)) {
    return;
  }
  var two = function (n) { return (n < 10 ? "0" : "") + n; };
  var at = new Date(made);
  var hhmm = two(at.getUTCHours()) + ":" + two(at.getUTCMinutes()) + " UTC";
  function check() {
    var minutes = Math.floor((Date.now() - made) / 60000);
    if (minutes < 3) {
      return;
    }
    var stale = document.getElementById("stale");
    stale.hidden = false;
    stale.textContent = "As of " + hhmm + ": this page has not been updated for " + minutes +
      " minutes, and what it shows may have changed since.";
    var overall = document.getElementById("overall");
    if (!overall.dataset.asOf) {
      overall.dataset.asOf = hhmm;
      overall.textContent = "As of " + hhmm + ": " + overall.textContent;
    }
  }
  check();
  setInterval(check, 30000);
})();
