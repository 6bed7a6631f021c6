"""Research inputs for the researcher agent: news, social, market-wide and on-chain readings.

Items come from live feeds (RSS/Atom, CryptoPanic, Reddit, CoinGecko, the Fear & Greed index,
mempool.space, NewsAPI) or from a dated research file (``--research PATH``), are scored once,
and are read by the researcher's sources at each decision only up to the decision moment. The
optional LLM reasoning lives in :mod:`sigmax.research.llm`.
"""
