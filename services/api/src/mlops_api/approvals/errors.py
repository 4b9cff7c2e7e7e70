"""The approval errors beyond the shared ones (errors.py turns every ApiError into {"detail"})."""

from __future__ import annotations

from mlops_api.errors import ApiError


class Forbidden(ApiError):
    status_code = 403


class Gone(ApiError):
    """The approval timed out, or the link was used or outlived its approval."""

    status_code = 410


class Unavailable(ApiError):
    status_code = 503
