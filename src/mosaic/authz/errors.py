"""Errors of the policy: every denial is a ``Forbidden`` with a stable code."""

from mosaic.core.errors import Forbidden


class AccessDenied(Forbidden):
    code = "ACCESS_DENIED"
    default_message = "You are not allowed to do this"


class MissingScope(AccessDenied):
    code = "MISSING_SCOPE"
    default_message = "The credential does not carry the scope this action needs"
