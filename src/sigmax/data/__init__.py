"""Market data: candle files (load, validate, catalog, resample) and the bundled datasets.

Import from the submodules (``sigmax.data.csv_store``, ``sigmax.data.catalog``,
``sigmax.data.resample``); this package stays light so that importing it costs nothing.
"""
