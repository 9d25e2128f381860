"""Errors any layer may raise; the server turns each into the OpenAI error envelope."""

from __future__ import annotations


class AirlockError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(AirlockError):
    """400: the request is malformed or not allowed in the current state."""


class NotFound(AirlockError):
    status = 404

    def __init__(self, kind: str, object_id: str):
        super().__init__(f"No {kind} found with id '{object_id}'.")


class Missing(AirlockError):
    """404 worded as the newer APIs word it ("Response with id '...' not found."), naming the
    parameter that pointed at it."""

    status = 404


class ServerError(AirlockError):
    status = 500
    type = "server_error"


class UnknownModel(AirlockError):
    status = 404

    def __init__(self, model: str, hint: str = ""):
        super().__init__(f"The model '{model}' does not exist{hint}", param="model",
                         code="model_not_found")
