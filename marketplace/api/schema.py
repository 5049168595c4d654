"""OpenAPI generation tweaks: unique component names for views' nested serializers."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        """``ShopRegisterApi.InputSerializer`` becomes ``ShopRegisterInput``, not ``Input``."""
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualname.split(".")[0], qualname.split(".")[-1]
        return outer.removesuffix("Api") + inner.removesuffix("Serializer")
