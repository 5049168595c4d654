// The dispute page's map: the courier's breadcrumbs from pickup to delivery as one line,
// and the pickup, drop-off and delivery points, all drawn as vectors from the page's own
// GeoJSON (no marker images). Tiles are drawn only when MAP_TILE_URL is set.
(function () {
  "use strict";
  var STYLES = {
    pickup: { color: "#1b5e20", fillColor: "#43a047" },
    dropoff: { color: "#0d47a1", fillColor: "#1e88e5" },
    alternate_dropoff: { color: "#4a148c", fillColor: "#8e24aa" },
    delivery: { color: "#b71c1c", fillColor: "#e53935" }
  };

  function setUp(element) {
    if (typeof L === "undefined") return;
    var source = document.getElementById("dispute-route-data");
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var map = L.map(element, { attributionControl: true });
    if (element.dataset.tileUrl) {
      L.tileLayer(element.dataset.tileUrl, { attribution: element.dataset.attribution, maxZoom: 19 }).addTo(map);
    }
    L.control.scale().addTo(map);
    var layer = L.geoJSON(data, {
      // Points get their own style in pointToLayer; only the line is styled here.
      style: function (feature) {
        if (feature.geometry.type !== "LineString") return {};
        return { className: "route-breadcrumbs", color: "#ef6c00", weight: 4, opacity: 0.9 };
      },
      pointToLayer: function (feature, latlng) {
        var kind = feature.properties.kind;
        var style = STYLES[kind] || STYLES.pickup;
        return L.circleMarker(latlng, {
          className: "marker-" + kind.replace("_", "-"),
          radius: kind === "delivery" ? 7 : 9,
          color: style.color,
          fillColor: style.fillColor,
          fillOpacity: 0.9,
          weight: 2
        });
      },
      onEachFeature: function (feature, featureLayer) {
        var props = feature.properties;
        var text = props.kind;
        if (props.address) text += ": " + props.address;
        if (props.count) text += " (" + props.count + " fixes)";
        featureLayer.bindTooltip(text);
      }
    }).addTo(map);
    var bounds = layer.getBounds();
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });
    } else {
      map.setView([20, 0], 2);
    }
    element.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("dispute-map");
    if (element) setUp(element);
  });
})();
