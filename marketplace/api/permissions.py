"""Role permissions: shops, couriers and platform staff each see their own endpoints."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from marketplace.models import Role


class _HasRole(BasePermission):
    role: Role

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role == self.role)


class IsShop(_HasRole):
    """The user works for a shop."""

    role = Role.SHOP
    message = "This endpoint is for shop accounts."


class IsCourier(_HasRole):
    """The user is a courier."""

    role = Role.COURIER
    message = "This endpoint is for courier accounts."


class IsPlatformStaff(_HasRole):
    """The user is platform staff (Django's is_staff)."""

    role = Role.STAFF
    message = "This endpoint is for platform staff."
