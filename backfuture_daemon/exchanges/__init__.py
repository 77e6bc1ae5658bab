"""The exchange layer: the only code that talks to exchanges (ccxt over one shared HTTP session).

Below the reconciler and bots, above configuration: it may import `configuration.models`, the
leaves (`health`, `errors`, `redaction`, `logs`) and ccxt/aiohttp — never bots, reconciler,
sandbox or telemetry. Callers use `port.py` (ExchangeAdapter, MarketDataPort, TradingPort),
`probes.ConnectionTester` and `market_data.MarketDataHub`.
"""
