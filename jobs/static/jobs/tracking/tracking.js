/* The recipient's tracking page, live: a Leaflet map (tiles only when configured), the
 * tracking socket with reconnects and backoff, a resync from the JSON endpoint after a
 * gap, and the recipient's actions. Without this script the page still shows everything
 * it knew when it was served. Every request stays on this server. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("tracking-config").textContent);
  var labels = config.labels;
  var token = config.token;
  var apiBase = "/api/v1/track/" + encodeURIComponent(token) + "/";
  var view = config.view;
  var map = null, markers = {}, closed = false, attempt = 0, socket = null, hadGap = false;

  function field(name) { return document.querySelector('[data-field="' + name + '"]'); }
  function show(el, visible) { if (el) { el.hidden = !visible; } }
  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function renderEta(eta, warnings) {
    var el = field("eta");
    if (!eta) { el.textContent = labels.eta_none; }
    else {
      el.textContent = labels.eta_between
        .replace("{earliest}", clock(eta.earliest)).replace("{latest}", clock(eta.latest)) +
        " (" + (labels.confidence[eta.confidence] || eta.confidence) + ")";
      el.setAttribute("data-confidence", eta.confidence);
      el.setAttribute("data-source", eta.source);
    }
    show(field("warning"), (warnings || []).indexOf("stale_location") >= 0);
  }

  function renderTimeline(steps) {
    var list = field("timeline");
    list.textContent = "";
    steps.forEach(function (step) {
      var item = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = labels.steps[step.step] || step.step;
      var time = document.createElement("time");
      time.setAttribute("datetime", step.at);
      time.textContent = " " + clock(step.at);
      item.appendChild(name); item.appendChild(time);
      list.appendChild(item);
    });
  }

  function render(next) {
    view = next;
    var status = field("status");
    status.textContent = labels.status[view.status] || view.status;
    status.setAttribute("data-status", view.status);
    renderEta(view.eta, view.warnings);
    renderTimeline(view.timeline);
    field("courier").textContent = view.courier
      ? (view.courier.name || labels.courier) + " (" + view.courier.vehicle + ")" : "—";
    field("option").textContent = labels.options[view.delivery.option] || view.delivery.option;
    field("instructions").textContent = view.delivery.instructions || "—";
    field("dropoff").textContent = view.delivery.alternate_location
      ? view.delivery.alternate_location.address : view.dropoff.address;
    show(field("pin-label"), !!view.pin); show(field("pin"), !!view.pin);
    field("pin").textContent = view.pin || "";
    var locker = view.delivery.locker;
    show(field("locker-label"), !!locker); show(field("locker"), !!locker);
    field("locker").textContent = locker ? locker.id + " · " + locker.passcode : "";
    var proof = field("proof"), photos = field("proof-photos");
    show(proof, !!view.proof);
    photos.textContent = "";
    ((view.proof && view.proof.photo_urls) || []).forEach(function (url) {
      var img = document.createElement("img");
      img.src = url; img.alt = labels.dropoff;
      photos.appendChild(img);
    });
    var anyAction = false;
    document.querySelectorAll("form[data-action]").forEach(function (form) {
      var open = view.actions.indexOf(form.getAttribute("data-action")) >= 0;
      show(form, open); anyAction = anyAction || open;
    });
    show(field("actions"), anyAction);
    placeMarkers();
  }

  function placeMarkers() {
    if (!map) { return; }
    var points = { pickup: view.pickup, dropoff: view.delivery.alternate_location || view.dropoff,
                   courier: view.courier_location };
    var bounds = [];
    Object.keys(points).forEach(function (kind) {
      var p = points[kind];
      if (!p) {
        if (markers[kind]) { map.removeLayer(markers[kind]); delete markers[kind]; }
        show(kind === "courier" ? field("courier-legend") : null, false);
        return;
      }
      bounds.push([p.lat, p.lng]);
      if (markers[kind]) { markers[kind].setLatLng([p.lat, p.lng]); }
      else {
        var colour = { pickup: "#2e7d32", dropoff: "#c62828", courier: "#0b63c5" }[kind];
        markers[kind] = L.circleMarker([p.lat, p.lng], {
          radius: kind === "courier" ? 9 : 7, className: "marker-" + kind, weight: 2,
          color: "#ffffff", fillColor: colour, fillOpacity: 0.95
        }).addTo(map).bindTooltip(labels[kind]);
      }
      if (kind === "courier") { show(field("courier-legend"), true); }
    });
    if (!map._fitted && bounds.length) { map.fitBounds(bounds, { padding: [24, 24] }); map._fitted = true; }
    var el = document.getElementById("map");
    if (view.courier_location) {
      el.setAttribute("data-courier", view.courier_location.lat + "," + view.courier_location.lng);
    } else { el.removeAttribute("data-courier"); }
  }

  function setupMap() {
    if (!window.L) { return; }
    var el = document.getElementById("map");
    el.textContent = "";
    map = L.map(el, { zoomControl: true, attributionControl: !!config.tileUrl });
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
    }
    map.setView([view.dropoff.lat, view.dropoff.lng], 14);
  }

  function connection(text) {
    var el = field("connection");
    el.textContent = text || ""; show(el, !!text);
  }

  function resync() {
    return fetch(apiBase, { headers: { Accept: "application/json" }, credentials: "omit" })
      .then(function (r) {
        if (r.status === 404) { linkClosed(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) { if (body) { render(body); } })
      .catch(function () {});
  }

  function linkClosed() {
    closed = true;
    connection(labels.link_closed);
    document.querySelectorAll("form[data-action]").forEach(function (f) { show(f, false); });
    show(field("actions"), false);
  }

  function onFrame(frame) {
    if (frame.type === "snapshot" || frame.type === "status") {
      var copy = {}; Object.keys(frame).forEach(function (k) { if (k !== "type") { copy[k] = frame[k]; } });
      render(copy);
    } else if (frame.type === "eta") {
      view.eta = frame.eta; view.warnings = frame.warnings; renderEta(frame.eta, frame.warnings);
    } else if (frame.type === "courier_location") {
      view.courier_location = { lat: frame.lat, lng: frame.lng, heading: frame.heading,
                                recorded_at: frame.recorded_at };
      placeMarkers();
    } else if (frame.type === "closed") {
      linkClosed();
    }
  }

  function connect() {
    if (closed || !window.WebSocket) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/track/" + encodeURIComponent(token) + "/");
    socket.onopen = function () {
      attempt = 0; connection("");
      document.body.setAttribute("data-socket", "open");
      if (hadGap) { hadGap = false; resync(); }
    };
    socket.onmessage = function (message) {
      try { onFrame(JSON.parse(message.data)); } catch (e) { /* ignore a bad frame */ }
    };
    socket.onclose = function (event) {
      document.body.setAttribute("data-socket", "closed");
      if (event.code === 4404 || event.code === 4410) { linkClosed(); return; }
      hadGap = true;
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      connection(labels.reconnecting);
      setTimeout(connect, delay);
    };
  }

  function localToIso(value) { return value ? new Date(value).toISOString() : null; }

  function submit(form) {
    var action = form.getAttribute("data-action");
    var data = new FormData(form), body = {};
    data.forEach(function (value, key) { body[key] = value; });
    if (action === "rating") { body.stars = parseInt(body.stars, 10); }
    if (action === "reschedule") {
      body.deliver_after = localToIso(body.deliver_after);
      body.deliver_before = localToIso(body.deliver_before);
    }
    if (action === "delivery_option" && body.delivery_option !== "locker") { delete body.locker_id; }
    var path = action.replace("_", "-") + "/";
    var feedback = field("feedback");
    fetch(apiBase + path, {
      method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (payload) { return { ok: r.ok, payload: payload }; });
    }).then(function (result) {
      if (result.ok) { feedback.textContent = labels.saved; render(result.payload); }
      else { feedback.textContent = labels.error + " " + result.payload.message; }
    }).catch(function () { feedback.textContent = labels.error; });
  }

  document.querySelectorAll("form[data-action]").forEach(function (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); submit(form); });
  });
  setupMap();
  render(view);
  connect();
})();
