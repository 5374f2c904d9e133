// 码上办: the page works as plain forms; with this script a post stays on the page (the new
// messages are added to the chat), photos are made smaller before they are sent, the place
// comes from the phone's location, and 放大字体 switches at once.
(function () {
  "use strict";
  var SIDE = 1600, QUALITY = 0.85; // a photo's longest side after resizing, JPEG quality
  var root = document.documentElement;
  root.classList.add("js");

  function nonce() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function shrink(file) {
    // Anything the browser cannot draw goes as it is: the server says what is wrong with it.
    if (!window.createImageBitmap) return Promise.resolve(file);
    return createImageBitmap(file).then(function (image) {
      var scale = Math.min(1, SIDE / Math.max(image.width, image.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(image.width * scale);
      canvas.height = Math.round(image.height * scale);
      canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
      return new Promise(function (done) {
        canvas.toBlob(function (blob) { done(blob || file); }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }

  function merge(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var chat = document.getElementById("chat");
    var fresh = page.getElementById("chat");
    if (!chat || !fresh) { document.open(); document.write(html); document.close(); return; }
    // Earlier questions lose their buttons; new messages are added after what is shown.
    Array.prototype.forEach.call(chat.querySelectorAll(".options"), function (options) {
      options.remove();
    });
    Array.prototype.slice.call(fresh.children).forEach(function (line) {
      var shown = document.getElementById(line.id);
      if (shown) shown.replaceWith(line); else chat.appendChild(line);
    });
    document.getElementById("compose").replaceWith(page.getElementById("compose"));
    bind();
    window.scrollTo(0, document.body.scrollHeight);
  }

  function send(form, body) {
    body.set("mid", nonce());
    document.body.classList.add("busy");
    return fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(merge)
      .finally(function () { document.body.classList.remove("busy"); });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-chat")) return;
    event.preventDefault();
    if (document.body.classList.contains("busy")) return;
    var body = new FormData(form);
    var button = event.submitter;
    if (button && button.name) body.set(button.name, button.value);
    var photos = form.querySelector("input[type=file]");
    if (!photos) { send(form, body); return; }
    body.delete("photo");
    Promise.all(Array.prototype.map.call(photos.files, shrink)).then(function (blobs) {
      blobs.forEach(function (blob, i) { body.append("photo", blob, "photo" + i + ".jpg"); });
      send(form, body);
    });
  });

  function bind() {
    var photo = document.getElementById("photo");
    if (photo) photo.addEventListener("change", function () {
      if (photo.files.length) photo.form.requestSubmit();
    });
    var locate = document.getElementById("locate");
    if (locate && navigator.geolocation) {
      locate.hidden = false;
      locate.addEventListener("click", function () {
        navigator.geolocation.getCurrentPosition(function (position) {
          var form = document.querySelector("form.say");
          var body = new FormData();
          body.set("csrf", form.elements.csrf.value);
          body.set("lat", position.coords.latitude);
          body.set("lon", position.coords.longitude);
          send(form, body);
        }, function () {
          alert(locate.getAttribute("data-failed"));
        }, { enableHighAccuracy: true, timeout: 15000 });
      });
    }
    var text = document.getElementById("text");
    if (text) text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        text.form.requestSubmit();
      }
    });
  }

  document.getElementById("font").addEventListener("click", function (event) {
    event.preventDefault();
    var big = root.classList.toggle("big");
    this.textContent = this.getAttribute(big ? "data-normal" : "data-big");
    document.cookie = "appealbot_font=" + (big ? "big" : "") + ";path=/;max-age=34560000;samesite=lax";
  });
  bind();
  window.scrollTo(0, document.body.scrollHeight);
})();
