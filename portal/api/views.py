"""Every /api/v1 route, by area (importing a module registers its routes on ``bp``)."""

from portal.api import audit, documents, trials  # noqa: F401
