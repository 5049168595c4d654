// Shows a zone's area (GeoJSON or WKT in the textarea) on a Leaflet map, and lets staff
// draw, edit or delete polygons, which are written back as a GeoJSON MultiPolygon.
// The textarea stays the truth: the server validates whatever it holds.
(function () {
  "use strict";

  // POLYGON((x y, ...), (...)) or MULTIPOLYGON(((...)), ...) -> GeoJSON geometry, or null.
  function wktToGeoJson(text) {
    text = text.trim().replace(/^SRID=\d+;/i, "");
    var match = /^(MULTIPOLYGON|POLYGON)\s*(\(.*\))\s*$/i.exec(text);
    if (!match) return null;
    var body = match[2].replace(/(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)/g, "[$1,$2]")
      .replace(/\(/g, "[").replace(/\)/g, "]");
    try {
      return { type: match[1].toUpperCase() === "POLYGON" ? "Polygon" : "MultiPolygon",
               coordinates: JSON.parse(body) };
    } catch (e) { return null; }
  }

  function parse(text) {
    text = text.trim();
    if (!text) return null;
    if (text.charAt(0) === "{") {
      try {
        var data = JSON.parse(text);
        return data.type === "Feature" ? data.geometry : data;
      } catch (e) { return null; }
    }
    return wktToGeoJson(text);
  }

  function setUp(widget) {
    if (typeof L === "undefined") return;
    var textarea = widget.querySelector("textarea");
    var status = widget.querySelector(".zone-area-status");
    var map = L.map(widget.querySelector(".zone-area-map"));
    if (widget.dataset.tileUrl) {
      L.tileLayer(widget.dataset.tileUrl, { attribution: widget.dataset.attribution, maxZoom: 19 }).addTo(map);
    }
    L.control.scale().addTo(map);
    var drawn = new L.FeatureGroup().addTo(map);

    function show(recentre) {
      drawn.clearLayers();
      var geometry = parse(textarea.value);
      if (!geometry) {
        status.textContent = textarea.value.trim() ? "The map cannot read this text yet; the server will say what is wrong." : "";
        return;
      }
      status.textContent = "";
      var polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates || [];
      polygons.forEach(function (rings) {
        try {
          L.geoJSON({ type: "Polygon", coordinates: rings }).eachLayer(function (layer) { drawn.addLayer(layer); });
        } catch (e) { /* malformed ring: the server will refuse it */ }
      });
      if (recentre && drawn.getLayers().length) map.fitBounds(drawn.getBounds(), { padding: [10, 10] });
    }

    function write() {
      var polygons = [];
      drawn.eachLayer(function (layer) {
        var geometry = layer.toGeoJSON().geometry;
        if (geometry.type === "Polygon") polygons.push(geometry.coordinates);
        else if (geometry.type === "MultiPolygon") polygons = polygons.concat(geometry.coordinates);
      });
      textarea.value = polygons.length ? JSON.stringify({ type: "MultiPolygon", coordinates: polygons }) : "";
    }

    if (L.Control && L.Control.Draw) {
      map.addControl(new L.Control.Draw({
        draw: { polyline: false, circle: false, marker: false, circlemarker: false,
                polygon: { allowIntersection: false, showArea: false }, rectangle: {} },
        edit: { featureGroup: drawn }
      }));
      map.on(L.Draw.Event.CREATED, function (event) { drawn.addLayer(event.layer); write(); });
      map.on(L.Draw.Event.EDITED, write);
      map.on(L.Draw.Event.DELETED, write);
    }
    textarea.addEventListener("change", function () { show(true); });
    map.setView([20, 0], 2);
    show(true);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".zone-area-widget").forEach(setUp);
  });
})();
