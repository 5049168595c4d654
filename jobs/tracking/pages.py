"""The recipient's page ``/t/{token}``: server-rendered, readable without JavaScript.

The page carries the same facts as the JSON endpoint, drawn from the same view. With
JavaScript it draws a Leaflet map (from our static files; tiles only when MAP_TILE_URL
is set) and follows the tracking socket. A Content-Security-Policy keeps every request
on this server (plus the tile server, when configured).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from jobs.tracking.api import add_private_headers
from jobs.tracking.selectors import tracking_view, with_photo_urls
from jobs.tracking.throttles import client_address, tracking_rate_check
from jobs.tracking.tokens import job_for_tracking_token
from marketplace.csp import page_content_security_policy

STATUS_LABELS = {
    "scheduled": _("Scheduled"),
    "pending": _("Looking for a courier"),
    "unassigned": _("Looking for a courier"),
    "assigned": _("Courier on the way to the shop"),
    "at_pickup": _("Courier at the shop"),
    "picked_up": _("On the way to you"),
    "at_dropoff": _("Courier has arrived"),
    "delivered": _("Delivered"),
    "failed": _("Delivery failed"),
    "returning": _("Returning to the shop"),
    "returned": _("Returned to the shop"),
    "cancelled": _("Cancelled"),
}
STEP_LABELS = {
    "created": _("Order placed"),
    "courier_assigned": _("Courier assigned"),
    "picked_up": _("Picked up"),
    "arriving": _("Arriving"),
    "delivered": _("Delivered"),
    "failed": _("Delivery failed"),
    "returning": _("Returning"),
    "returned": _("Returned"),
    "cancelled": _("Cancelled"),
}
OPTION_LABELS = {
    "hand_to_recipient": _("Hand to you"),
    "leave_at_door": _("Leave at the door"),
    "locker": _("Parcel locker"),
    "alternate_location": _("Another place nearby"),
}
CONFIDENCE_LABELS = {"high": _("high"), "medium": _("medium"), "low": _("low")}
UI_LABELS = {
    "eta_between": _("Arrives between {earliest} and {latest}"),
    "eta_none": _("No arrival time right now"),
    "stale_location": _("We have not heard from the courier for a while."),
    "link_closed": _("This tracking link has expired."),
    "reconnecting": _("Reconnecting…"),
    "live": _("Live"),
    "saved": _("Saved."),
    "error": _("That did not work:"),
    "courier": _("Courier"),
    "pickup": _("Pickup"),
    "dropoff": _("Drop-off"),
}
SVG_SIZE = (320, 200)
SVG_PADDING = 24


def _svg_markers(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Pickup, drop-off and courier projected into a small SVG box (the no-JS map)."""
    points = [
        ("pickup", view["pickup"], str(UI_LABELS["pickup"])),
        ("dropoff", view["dropoff"], str(UI_LABELS["dropoff"])),
    ]
    if view["courier_location"]:
        points.append(("courier", view["courier_location"], str(UI_LABELS["courier"])))
    lats = [p["lat"] for _, p, _ in points]
    lngs = [p["lng"] for _, p, _ in points]
    width, height = SVG_SIZE
    span_lat = max(max(lats) - min(lats), 1e-4)
    span_lng = max(max(lngs) - min(lngs), 1e-4)
    markers = []
    for kind, point, label in points:
        x = SVG_PADDING + (point["lng"] - min(lngs)) / span_lng * (width - 2 * SVG_PADDING)
        y = SVG_PADDING + (max(lats) - point["lat"]) / span_lat * (height - 2 * SVG_PADDING)
        markers.append({"kind": kind, "x": round(x, 1), "y": round(y, 1), "label": label})
    return markers


def _csp(request: HttpRequest) -> str:
    host = request.get_host()
    return page_content_security_policy(connect_src=["'self'", f"ws://{host}", f"wss://{host}"])


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def tracking_page(request: HttpRequest, token: str) -> HttpResponse:
    wait = tracking_rate_check(token=token, address=client_address(request))
    if wait is not None:
        response = render(
            request, "jobs/tracking/unavailable.html", {"throttled": True}, status=429
        )
        response["Retry-After"] = str(wait)
        return add_private_headers(response)
    job = job_for_tracking_token(token)
    if job is None:
        response = render(
            request, "jobs/tracking/unavailable.html", {"throttled": False}, status=404
        )
        return add_private_headers(response)
    view = with_photo_urls(tracking_view(job), token=token)
    eta = view["eta"]
    context = {
        "view": view,
        "lang": get_language(),
        "status_label": STATUS_LABELS.get(view["status"], view["status"]),
        "timeline": [
            {"label": STEP_LABELS.get(step["step"], step["step"]), "at": _time(step["at"])}
            for step in view["timeline"]
        ],
        "option_label": OPTION_LABELS.get(view["delivery"]["option"], ""),
        "eta_earliest": _time(eta["earliest"]) if eta else None,
        "eta_latest": _time(eta["latest"]) if eta else None,
        "eta_confidence": CONFIDENCE_LABELS.get(eta["confidence"], "") if eta else "",
        "markers": _svg_markers(view),
        "svg_width": SVG_SIZE[0],
        "svg_height": SVG_SIZE[1],
        "config": {
            "token": token,
            "view": view,
            "tileUrl": settings.MAP_TILE_URL,
            "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
            "labels": {
                "status": {k: str(v) for k, v in STATUS_LABELS.items()},
                "steps": {k: str(v) for k, v in STEP_LABELS.items()},
                "options": {k: str(v) for k, v in OPTION_LABELS.items()},
                "confidence": {k: str(v) for k, v in CONFIDENCE_LABELS.items()},
                **{k: str(v) for k, v in UI_LABELS.items()},
            },
        },
    }
    response = render(request, "jobs/tracking/page.html", context)
    response["Content-Security-Policy"] = _csp(request)
    return add_private_headers(response)
