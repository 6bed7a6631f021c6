"""What runs beside the engine in one process (the REST API, the Telegram bot): the faces are
started here, outside ``sigmax.engine``, which never imports them."""
