// The callback queue refreshes itself: it asks every second whether the queue changed (a
// small answer with no inquiry in it) and, only then, fetches the page again and swaps the
// list in, announcing a new urgent call. Without this script the page works the same,
// reloaded by hand.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  var announcer = document.getElementById("announcer");
  var script = document.currentScript;
  if (!queue || !queue.dataset.poll) { return; }
  var message = script ? script.dataset.newUrgent || "" : "";
  var version = null;
  // An optional sound for a new urgent call: the person's choice, kept in this browser.
  var sound = document.getElementById("sound");
  var SOUND_KEY = "inquiry.console.sound";
  if (sound) {
    // Shown only where this script runs: without it there is nothing to play the sound.
    document.getElementById("sound-choice").hidden = false;
    sound.checked = window.localStorage.getItem(SOUND_KEY) === "on";
    sound.addEventListener("change", function () {
      window.localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
    });
  }

  function chime() {
    if (!sound || !sound.checked || !window.AudioContext) { return; }
    try {
      var context = new window.AudioContext();
      var tone = context.createOscillator();
      var volume = context.createGain();
      tone.frequency.value = 880;
      volume.gain.value = 0.2;
      tone.connect(volume).connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.4);
      tone.onended = function () { context.close(); };
    } catch (error) { /* no sound: the visible alert stays */ }
  }
  // Asked by the page, not by the person: the session's idle time keeps running.
  var passive = { "X-Console-Passive": "1" };

  function urgentIds(root) {
    var ids = {};
    root.querySelectorAll("[data-urgent]").forEach(function (item) {
      ids[item.dataset.task] = item.dataset.urgent;
    });
    return ids;
  }

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: passive })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("queue");
        if (!fresh) { return; }
        var before = urgentIds(queue);
        queue.innerHTML = fresh.innerHTML;
        var after = urgentIds(queue);
        Object.keys(after).forEach(function (id) {
          if (!(id in before) && announcer) {
            var alert = document.createElement("p");
            alert.className = "problem";
            alert.setAttribute("role", "alert");
            alert.textContent = message.replace("{name}", after[id]);
            announcer.replaceChildren(alert);
            chime();
          }
        });
      })
      .catch(function () {});
  }

  function poll() {
    fetch(queue.dataset.poll, { credentials: "same-origin", headers: passive })
      .then(function (answer) {
        if (answer.redirected) {
          // Signed out (idle, or elsewhere): show the sign-in page rather than a stale queue.
          window.location.reload();
          return null;
        }
        var json = answer.headers.get("content-type") || "";
        return answer.ok && json.indexOf("application/json") === 0 ? answer.json() : null;
      })
      .then(function (state) {
        if (state === null) { return; }
        if (version !== null && state.version !== version) { refresh(); }
        version = state.version;
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 1000); });
  }
  poll();
}());
