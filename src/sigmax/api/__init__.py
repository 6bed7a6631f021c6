"""The REST API: status, health, decisions, the paper account and operator controls.

Build it with :func:`create_app` and serve it with :class:`ApiServer` (``sigmax serve`` does
both over the stored state of SIGMAX_HOME).
"""

from sigmax.api.access import AccessLimits
from sigmax.api.app import create_app
from sigmax.api.auth import ApiToken, ApiTokenError, mask_in_logs, resolve_api_token
from sigmax.api.ratelimit import RateLimit
from sigmax.api.server import ApiServer, ApiServerError
from sigmax.api.services import ApiServices, submit_manual_order

__all__ = [
    "AccessLimits",
    "ApiServer",
    "ApiServerError",
    "ApiServices",
    "ApiToken",
    "ApiTokenError",
    "RateLimit",
    "create_app",
    "mask_in_logs",
    "resolve_api_token",
    "submit_manual_order",
]
