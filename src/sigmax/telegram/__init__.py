"""The Telegram bot: one more face over the service layer, as the CLI and the REST API.

``sigmax run`` starts it beside the engine when ``TELEGRAM_BOT_TOKEN`` is set; ``sigmax
telegram`` runs it alone over the stored state of SIGMAX_HOME. It adds no business logic:
commands call the service layer (:mod:`sigmax.engine.services`), notifications come from the
engine's event bus, and every message leaves through the privacy-screened outbox.
"""
