"""Pagination for every list endpoint: ?page=N&page_size=M (max 200).

Both are whole numbers from 1: anything else (``page=0``, ``page_size=``, ``page=last``)
is a 400 ``validation_error`` rather than silently the first page or the default size.
A ``page_size`` above 200 is served as 200; a page past the last one is a 404.
"""

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import pagination, serializers
from rest_framework.request import Request

MAX_PAGE_SIZE = 200


def _positive_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or len(raw) > 9:
        raise serializers.ValidationError({name: ["A whole number from 1 is required."]})
    return int(raw)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_number(self, request: Request, paginator: Any) -> int:
        return _positive_int(request, self.page_query_param) or 1

    def get_page_size(self, request: Request) -> int:
        size = _positive_int(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)


# For ``extend_schema(parameters=[..., *PAGE_PARAMETERS])`` on every paginated view.
PAGE_PARAMETERS = [
    OpenApiParameter(
        "page",
        {"type": "integer", "minimum": 1, "maximum": 999_999_999},
        description="Page number, from 1; past the last page is a 404.",
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": 999_999_999},
        description=f"Items per page; default 50; more than {MAX_PAGE_SIZE} is served as that.",
    ),
]
