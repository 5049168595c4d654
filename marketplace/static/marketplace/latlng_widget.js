// Mirrors a latitude/longitude pair on a Leaflet map: typing moves the marker,
// clicking or dragging on the map fills in the numbers. The inputs stay the truth.
(function () {
  "use strict";
  function setUp(widget) {
    if (typeof L === "undefined") return;
    var inputs = widget.querySelectorAll("input");
    var lat = inputs[0], lng = inputs[1];
    var map = L.map(widget.querySelector(".latlng-map"), { attributionControl: true });
    if (widget.dataset.tileUrl) {
      L.tileLayer(widget.dataset.tileUrl, { attribution: widget.dataset.attribution, maxZoom: 19 }).addTo(map);
    }
    L.control.scale().addTo(map);
    var marker = null;
    function read() {
      var la = parseFloat(lat.value), ln = parseFloat(lng.value);
      return isFinite(la) && isFinite(ln) ? [la, ln] : null;
    }
    function place(point, recentre) {
      if (!point) {
        // A number is missing or not a number: no marker, since no point would be saved.
        if (marker) { map.removeLayer(marker); marker = null; }
        return;
      }
      if (!marker) {
        marker = L.marker(point, { draggable: true }).addTo(map);
        marker.on("dragend", function () { write(marker.getLatLng()); });
      } else {
        marker.setLatLng(point);
      }
      if (recentre) map.setView(point, Math.max(map.getZoom() || 0, 13));
    }
    function write(latlng) {
      // A click on a world copy east or west of the first gives a longitude past ±180.
      latlng = latlng.wrap();
      lat.value = latlng.lat.toFixed(6);
      lng.value = latlng.lng.toFixed(6);
    }
    map.on("click", function (event) { write(event.latlng); place(event.latlng, false); });
    [lat, lng].forEach(function (input) {
      input.addEventListener("change", function () { place(read(), true); });
    });
    var start = read();
    map.setView(start || [20, 0], start ? 14 : 2);
    place(start, false);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".latlng-widget").forEach(setUp);
  });
})();
