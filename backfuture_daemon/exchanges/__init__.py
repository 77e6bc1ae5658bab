"""The exchange layer: the only code that talks to exchanges (ccxt over one shared HTTP session).

Below the reconciler and bots, above configuration: it may import `configuration.models`, the
leaves (`health`, `errors`, `redaction`, `logs`) and ccxt/aiohttp — never bots, reconciler,
sandbox or telemetry. Callers use `port.py` (ExchangeAdapter, MarketDataPort, TradingPort),
`probes.ConnectionTester` and `market_data.MarketDataHub`; live bots get their trading ports
from `live_ports.LivePorts`, which `venue_ports` fills: `trading.CcxtTrading` (spot; OKX and Bybit
subclass it in `okx_trading` / `bybit_trading`) and `futures_trading.CcxtFuturesTrading` (USDT
perpetuals; `<exchange>_futures_trading` per venue); `order_values` turns ccxt rows into ours, and
`okx_orders` / `bybit_orders` hold the wire-level order calls an exchange's spot and futures ports
share. `history_paging` reads fills and orders page by page; `market_feeds` says what a spot or
futures market-data feed polls.
"""
