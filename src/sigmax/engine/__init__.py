"""The engine layer: the :class:`~sigmax.engine.facade.SIGMAX` facade and decision persistence."""
