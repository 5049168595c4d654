"""Pagination for every list endpoint: ?page=N&page_size=M (max 200)."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
