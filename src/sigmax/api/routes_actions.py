"""The routes that act: analyze, a manual order, pause, resume, panic.

Every one needs the bearer token (the caller adds the check). Analyze, trade and resume are
also rate limited per token (``limited``); pause and panic never are: a limit must never stand
between the operator and stopping. Blocking work
(database writes, waiting for a running engine to apply a command) runs in worker threads.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, params, status

from sigmax.api.context import ApiContext
from sigmax.api.errors import ApiError, input_error
from sigmax.api.schemas import (
    AnalyzeRequest,
    CommandResponse,
    DecisionOut,
    ErrorResponse,
    PanicRequest,
    PauseRequest,
    QueuedOrderResponse,
    ResumeRequest,
    TradeRequest,
)
from sigmax.engine.manual_order import OrderRefusedError
from sigmax.engine.safety_service import CommandResult
from sigmax.errors import InputError
from sigmax.storage.models import ControlKind, ControlStatus

_NO_DATA: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorResponse, "description": "No candle data for the symbol."}
}


def action_router(ctx: ApiContext, limited: params.Depends) -> APIRouter:
    """The acting routes over ``ctx``; ``limited`` is the rate limit of analyze, trade and
    resume (access control is added by the caller)."""
    router = APIRouter(prefix="/api", tags=["act"])

    @router.post(
        "/analyze",
        response_model=DecisionOut,
        summary="Run the seven agents on a symbol now",
        responses=_NO_DATA,
        dependencies=[limited],
    )
    async def analyze(body: AnalyzeRequest) -> DecisionOut:
        return DecisionOut(**await ctx.services.analyze(body.symbol))

    @router.post(
        "/trade",
        response_model=QueuedOrderResponse | CommandResponse,
        status_code=status.HTTP_202_ACCEPTED,
        summary="A manual paper market order, filled at the symbol's next candle",
        description="With a run running, the engine checks and places the order (the answer "
        "is the command's outcome); otherwise it is queued on the stored run (the queued order).",
        responses={
            409: {
                "model": ErrorResponse,
                "description": "Refused by a compliance policy or the safety enforcer (the "
                "broken rules are listed), or the account cannot take it.",
            }
        },
        dependencies=[limited],
    )
    def trade(body: TradeRequest) -> QueuedOrderResponse | CommandResponse:
        try:
            queued = ctx.services.submit_order(ctx.home, body.symbol, body.action, body.size)
        except OrderRefusedError:
            raise
        except InputError as error:
            # The account's refusals are conflicts with its state, not bad input, unless
            # the message names an argument.
            code, detail = input_error(error, default_status=409)
            raise ApiError(code, detail.rule, detail.message, field=detail.field) from None
        if isinstance(queued, CommandResult):
            if queued.status is ControlStatus.REFUSED:
                raise ApiError(409, "refused", queued.message)
            return CommandResponse(**queued.as_json())
        return QueuedOrderResponse(**queued.as_json())

    @router.post("/control/pause", response_model=CommandResponse, summary="Pause trading")
    def pause(body: PauseRequest | None = None) -> CommandResponse:
        duration = None if body is None else body.duration
        arguments = {
            "duration_ms": None if duration is None else duration * 1000,
            "reason": "paused by the operator (API)",
        }
        return _command(ctx, ControlKind.PAUSE, arguments)

    @router.post(
        "/control/resume",
        response_model=CommandResponse,
        summary="Resume trading",
        responses={409: {"model": ErrorResponse, "description": "A trigger still holds."}},
        dependencies=[limited],
    )
    def resume(body: ResumeRequest | None = None) -> CommandResponse:
        force = False if body is None else body.force
        return _command(ctx, ControlKind.RESUME, {"force": force})

    @router.post(
        "/control/panic",
        response_model=CommandResponse,
        summary="Cancel every order, close every position at market, pause",
    )
    def panic(body: PanicRequest) -> CommandResponse:
        if not body.confirm:
            raise ApiError(
                422,
                "confirm_required",
                'panic closes every position at market: send {"confirm": true} to do it',
                field="confirm",
            )
        return _command(ctx, ControlKind.PANIC, {"reason": "panic by the operator (API)"})

    return router


def _command(ctx: ApiContext, kind: ControlKind, arguments: dict[str, Any]) -> CommandResponse:
    result = ctx.services.command(ctx.home, kind, arguments)
    if result.status is ControlStatus.REFUSED:
        raise ApiError(409, f"{kind.value}_refused", result.message)
    return CommandResponse(**result.as_json())
